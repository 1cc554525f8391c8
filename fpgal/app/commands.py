"""Handlers of the CLI subcommands: parse → validate config → check names and files → call the pipeline.

Everything that can be checked before the work starts is checked first (config, the names it refers
to, energy ranges, input files), so a mistake costs seconds and leaves no files behind.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from .config import Config, ConfigError, load_config
from ..core.log import get_logger, mpi_rank_size

log = get_logger("cli")


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. grid.mesh=\"milkyway-0.5kpc\"")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # bare string
    return out


def load(args) -> Config:
    overrides = _overrides(getattr(args, "set", []))
    if getattr(args, "output_dir", None):
        overrides["output_dir"] = args.output_dir
    cfg = load_config(args.config, overrides)
    if not (getattr(args, "verbose", False) or getattr(args, "quiet", False)):
        from ..core.log import setup_logging
        setup_logging(cfg.log_level)
    return cfg


def _checked(cfg: Config, stages: set[str]) -> Config:
    """``cfg`` after :func:`fpgal.pipeline.check_study` for ``stages`` (on every rank, agreeing on failure)."""
    from .pipeline import check_study, collective
    collective(lambda: check_study(cfg, stages))
    return cfg


def _inputs(*paths: str, what: str = "input file") -> None:
    """Every path names an existing file (:class:`fpgal.pipeline.InputFileError` naming it if not)."""
    from .pipeline import InputFileError
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputFileError(f"{what} {p!r}: " + ("is a folder" if path.is_dir() else "no such file"))


def _print0(*a) -> None:
    if mpi_rank_size()[0] == 0:
        print(*a, flush=True)


def cmd_info(args, petsc_opts) -> int:
    from mpi4py import MPI  # initialises MPI: the size printed is the real one

    from ..core.files import versions
    from ..transport.affinity import cpu_text, rank_placements, ranks_sharing_cpus
    rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    placements = rank_placements(MPI.COMM_WORLD)
    shared = ranks_sharing_cpus(placements)
    cpus = "  ".join(f"rank {r}: {host} CPUs {cpu_text(c)}" for r, (host, c) in enumerate(placements))
    v = versions()
    lines = [f"fpgal {v['fpgal']}", f"MPI ranks: {size}",
             f"CPU binding: {cpus}" + (f"  (ranks {shared[0][0]} and {shared[0][1]} share CPUs: "
                                       "launch with `mpiexec -bind-to core`)" if shared else ""),
             f"MPI library: {v['mpi']}", f"PETSc: {v['petsc']}",
             f"petsc4py: {v['petsc4py']}", f"mpi4py: {v['mpi4py']}", f"python: {v['python']}",
             f"numpy: {v['numpy']}  scipy: {v['scipy']}  h5py: {v['h5py']}  healpy: {v['healpy']}  "
             f"aafragpy: {v['aafragpy']}"]
    try:
        from ..core.data import data_dir
        lines.append(f"data directory: {data_dir()}")
    except FileNotFoundError as exc:
        lines.append(f"data directory: MISSING ({exc})")
    if args.petsc_config:
        try:
            import petsc4py
            cfg = petsc4py.get_config()
            lines.append(f"PETSc dir: {cfg.get('PETSC_DIR')}  arch: {cfg.get('PETSC_ARCH')}")
            import petsc
            conf = Path(petsc.get_petsc_dir()) / "lib" / "petsc" / "conf" / "petscvariables"
            for line in conf.read_text().splitlines():
                if line.startswith("CONFIGURE_OPTIONS"):
                    lines.append(f"PETSc configure: {line.split('=', 1)[1].strip()}")
        except Exception as exc:  # noqa: BLE001
            lines.append(f"PETSc configuration unavailable: {exc}")
    if rank == 0:
        print("\n".join(lines), flush=True)
    return 0


def cmd_run(args, petsc_opts) -> int:
    from .pipeline import run_study
    cfg = load(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] or None
    summary = run_study(cfg, petsc_options=petsc_opts, force=args.force, only=stages)
    if summary.is_file():
        findings = [line for line in summary.read_text().splitlines() if line.startswith("- (")]
        _print0(f"summary: {summary}\n" + "\n".join(findings))
    return 0


def cmd_scan(args, petsc_opts) -> int:
    from .scan import run_scan
    result = run_scan(load(args), petsc_options=petsc_opts, force=args.force)
    _print0(f"scan: {result.csv} ({sum(len(b) for b in result.rows.values())} rows, "
            f"{len(result.computed)} stages computed)\nsummary: {result.files[1]}")
    return 0


def cmd_solve(args, petsc_opts) -> int:
    from .pipeline import solve_all
    from .pipeline import collective
    cfg = _checked(load(args), {"solve"})
    paths = collective(lambda: solve_all(cfg, epsilons=args.epsilon, out=args.out, petsc_options=petsc_opts))
    for p in paths:
        _print0(f"wrote {p}")
    return 0


def cmd_sde(args, petsc_opts) -> int:
    from .pipeline import run_sde
    from .pipeline import collective
    cfg = _checked(load(args), {"sde"})
    path = collective(lambda: run_sde(cfg, epsilon=args.epsilon, out=args.out, n_particles=args.n_particles,
                                      seed=args.seed, mode=args.mode))
    if path:
        _print0(f"wrote {path}")
    return 0


def cmd_converge(args, petsc_opts) -> int:
    from .studies.convergence import checked_spacings, converge
    cfg = _checked(load(args), {"solve", "fit", "skymap"})
    try:
        checked_spacings(cfg, args.meshes)
    except ValueError as exc:
        raise ConfigError(f"--meshes {','.join(f'{h:g}' for h in args.meshes)}: {exc}") from None
    out = Path(args.out) if args.out else Path(cfg.output_dir) / "convergence"
    converge(cfg, args.meshes, out, petsc_options=petsc_opts, report=_print0)
    if mpi_rank_size()[0] == 0:
        _print0(f"wrote {out / 'convergence.md'} and {out / 'convergence.json'}\n" + (out / "convergence.md").read_text())
    return 0


def cmd_fit(args, petsc_opts) -> int:
    from .pipeline import fit_files, on_root
    cfg = _checked(load(args), {"fit"})
    _inputs(*args.cr, what="CR density file")
    for line in on_root(lambda: fit_files(cfg, args.cr, out=args.out)):
        _print0(line)
    return 0


def cmd_skymap(args, petsc_opts) -> int:
    from .pipeline import on_root, read_fit_spectrum, skymap_file
    cfg = _checked(load(args), {"skymap"})
    _inputs(args.cr, what="CR density file")
    if args.fit:
        read_fit_spectrum(args.fit)
    for p in on_root(lambda: skymap_file(cfg, args.cr, fit_json=args.fit, out=args.out)):
        _print0(f"wrote {p}")
    return 0


def cmd_compare(args, petsc_opts) -> int:
    from .pipeline import compare_files, on_root
    _inputs(args.reference, args.other, what="CR density file")
    _print0(on_root(lambda: compare_files(args.reference, args.other, args.out)))
    return 0


def cmd_plot(args, petsc_opts) -> int:
    from . import pipeline
    if args.what is None:
        raise ConfigError("fpgal plot: say what to plot: field, map or cr (see fpgal plot --help)")
    if args.what in ("map", "cr"):
        _inputs(args.path, what="map file" if args.what == "map" else "CR density file")
        if getattr(args, "ratio_to", None):
            _inputs(args.ratio_to, what="map file")
    for p in pipeline.on_root(lambda: getattr(pipeline, f"plot_{args.what}")(args)):
        _print0(f"wrote {p}")
    return 0


def cmd_benchmark(args, petsc_opts) -> int:
    if args.benchmark is None:
        raise ConfigError("fpgal benchmark: say which benchmark: crpropa (see fpgal benchmark --help)")
    from .studies.crpropa_benchmark import run_benchmark
    lines = run_benchmark(args.method, args.out, config=args.config, mesh_kpc=args.mesh_kpc,
                          n_particles=args.n_particles, seed=args.seed, step_kpc=args.step,
                          lookup_kpc=args.lookup_kpc, kernel=args.kernel, epsilon=args.epsilon,
                          compare=args.compare, compare_error=args.compare_error,
                          compare_particles=args.compare_particles)
    _print0("\n".join(lines))
    return 0


def cmd_info_field(args, petsc_opts) -> int:
    from .pipeline import field_info
    _print0(field_info(args.model, args.mesh))
    return 0
