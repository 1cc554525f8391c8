"""The study as a chain of stages: field → tensor → solve (each ε) → fit → sky maps → ratios → spectra → summary.

Every stage is a small function of the validated config that writes files and returns their paths;
:func:`run_study` chains them through a :class:`fpgal.stages.Manifest` so finished stages are skipped
(resumable) and changed ones are redone. Under MPI every rank takes part in the solves; the
post-processing stages run on rank 0 while the others wait.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import builders
from .config import Config, to_toml
from .log import get_logger, mpi_rank_size, progress
from .petsc_options import solver_options
from .result import CRDensity
from .stages import Manifest, stage_key

log = get_logger("pipeline")


def _eps_tag(eps: float) -> str:
    return f"{eps:g}"


def _barrier() -> None:
    rank, size = mpi_rank_size()
    if size > 1:
        from mpi4py import MPI
        MPI.COMM_WORLD.Barrier()


def _bcast(value):
    rank, size = mpi_rank_size()
    if size > 1:
        from mpi4py import MPI
        return MPI.COMM_WORLD.bcast(value, root=0)
    return value


# ------------------------------------------------------------------------------------------ keys
def solve_key(cfg: Config, eps: float) -> str:
    return stage_key("solve", cfg.section_text("grid", "field", "source", "spectrum", "boundary", "losses"),
                     repr({k: v for k, v in vars(cfg.diffusion).items() if k != "epsilon"}), repr(eps),
                     repr(cfg.solver.rtol))


def numdiff_key(cfg: Config) -> str:
    return stage_key("numerical_diffusion", cfg.section_text("grid", "field"), repr(list(cfg.diffusion.epsilon)))


def fit_key(cfg: Config) -> str:
    return stage_key("fit", *(solve_key(cfg, e) for e in cfg.diffusion.epsilon), cfg.section_text("fit", "observer"),
                     cfg.data_dir)


def skymap_key(cfg: Config, eps: float) -> str:
    return stage_key("skymap", solve_key(cfg, eps), fit_key(cfg), cfg.section_text("skymap", "observer"))


# ------------------------------------------------------------------------------------------ stages
def plot_fields_stage(cfg: Config, out_dir: Path) -> list[Path]:
    """Fig. 1: field lines face-on and edge-on for the study's field (and the other of UF23/JF12-solenoidal)."""
    from .fields import field_from_name
    from .plots.fields import plot_field
    models = [cfg.field.model] + [m for m in ("uf23:base", "jf12-solenoidal") if m != cfg.field.model]
    paths = []
    for model in models:
        field = builders.build_field(cfg) if model == cfg.field.model else field_from_name(model)
        path = out_dir / f"field_{model.replace(':', '_')}.png"
        plot_field(field, path, title=model)
        paths.append(path)
    return paths


def numerical_diffusion_stage(cfg: Config, out_dir: Path) -> tuple[list[Path], dict]:
    """κ⊥,num/κ∥ of the scheme on the study's mesh and field for every ε (ring test,
    :func:`fpgal.transport.diagnostics.numerical_diffusion`; warns when it exceeds 0.1 ε).
    Collective (PETSc solves on every rank); rank 0 writes ``numerical_diffusion.json``."""
    from .transport.diagnostics import numerical_diffusion
    grid, field = builders.build_grid(cfg), builders.build_field(cfg)
    info = {_eps_tag(e): {k: (v.item() if hasattr(v, "item") else v)
                          for k, v in numerical_diffusion(field, grid, e).items()}
            for e in cfg.diffusion.epsilon}
    path = out_dir / "numerical_diffusion.json"
    if mpi_rank_size()[0] == 0:
        _write_json(path, info)
    return [path], info


def solve_one(cfg: Config, eps: float, out_path: Path, petsc_options: dict | None = None,
              numdiff: dict | None = None) -> Path:
    """Grid solution for one ε with the config's reference spectrum; written to ``out_path`` (collective
    under MPI: every rank solves, rank 0 writes the file). ``numdiff``: this ε's entry of
    :func:`numerical_diffusion_stage` (computed here when not given)."""
    from .transport import solve_steady
    grid = builders.build_grid(cfg)
    tensor = builders.build_tensor(cfg, eps)
    losses = None
    if cfg.losses.pp:
        from .transport.losses import PPLosses
        losses = PPLosses(builders.build_gas(cfg, cfg.losses.gas))
    if numdiff is None:
        from .transport.diagnostics import numerical_diffusion
        numdiff = numerical_diffusion(tensor.field, grid, eps)   # warns when κ⊥,num > 0.1 ε κ∥
    t0 = time.perf_counter()
    cr = solve_steady(grid, tensor, builders.build_source(cfg), builders.build_spectrum(cfg),
                      boundary=builders.build_boundary(cfg), losses=losses,
                      petsc_options=solver_options(cfg.solver, petsc_options))
    cr.meta.update(epsilon=eps, wall_time_s=time.perf_counter() - t0, field=cfg.field.model,
                   source=cfg.source.distribution,
                   numerical_kappa_perp_over_kpar=float(numdiff["kappa_num_over_kpar"]),
                   numerical_diffusion_over_epsilon=float(numdiff["ratio_to_epsilon"]),
                   numerical_diffusion_warning=bool(numdiff["warning"]))
    cr.save(out_path, config_text=to_toml(cfg))      # collective: rank 0 writes, all ranks return after
    log.info("ε = %g: %s", eps, {k: cr.meta[k] for k in ("iterations", "factorized") if k in cr.meta})
    _barrier()
    return out_path


def solve_all(cfg: Config, epsilons: list[float] | None = None, out: str | None = None,
              petsc_options: dict | None = None) -> list[Path]:
    eps_list = epsilons or cfg.diffusion.epsilon
    if out and len(eps_list) == 1 and out.endswith(".h5"):
        return [solve_one(cfg, eps_list[0], Path(out), petsc_options)]
    folder = Path(out) if out else Path(cfg.output_dir) / "cr"
    return [solve_one(cfg, e, folder / f"cr_eps_{_eps_tag(e)}.h5", petsc_options)
            for e in progress(eps_list, desc="solve ε")]


def run_sde(cfg: Config, epsilon: float | None = None, out: str | None = None, n_particles: int | None = None,
            seed: int | None = None, mode: str | None = None) -> Path:
    from .sde import steady_state
    eps = epsilon if epsilon is not None else cfg.diffusion.epsilon[0]
    grid = builders.build_grid(cfg)
    # tabulate b and ∇·D at half the cell size: ≥ 1e6 particle-steps/s with UF23 (benchmarks/sde.py)
    kwargs = {"lookup_spacing_kpc": 0.5 * float(min(grid.spacing_kpc))}
    if cfg.sde.dt_s:
        kwargs["dt_s"] = cfg.sde.dt_s
    if cfg.losses.pp:
        from .transport.losses import PPLosses
        kwargs["losses"] = PPLosses(builders.build_gas(cfg, cfg.losses.gas))
    cr = steady_state(grid, builders.build_tensor(cfg, eps), builders.build_source(cfg), builders.build_spectrum(cfg),
                      n_particles=n_particles or cfg.sde.n_particles, seed=cfg.sde.seed if seed is None else seed,
                      boundary=builders.build_boundary(cfg), mode=mode or cfg.sde.mode, **kwargs)
    path = Path(out) if out else Path(cfg.output_dir) / "sde" / f"sde_eps_{_eps_tag(eps)}.h5"
    cr.meta.update(epsilon=eps)
    cr.save(path, config_text=to_toml(cfg))          # collective: rank 0 writes, all ranks return after
    _barrier()
    return path


def fit_stage(cfg: Config, cr_paths: dict[float, Path], out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 2: fit Q(p) (paper eq. 2) to the local proton data for each ε by reweighting the solved basis."""
    from .analysis.crdata import load_experiments
    from .analysis.fit import fit_injection
    from .plots.spectra import curves_from_fits, plot_local_spectrum
    f = cfg.fit
    data = load_experiments(f.experiments, data_dir=cfg.data_dir or None, E_min_GeV=f.E_min_GeV,
                            E_max_GeV=f.E_max_GeV)
    spectrum_ref = builders.build_spectrum(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    fits, paths = {}, []
    for eps, path in cr_paths.items():
        fit = fit_injection(CRDensity.load(path), data, spectrum_ref, free=tuple(f.free), center_kpc=cfg.sun_kpc,
                            radius_kpc=f.radius_kpc, E_min_GeV=f.E_min_GeV, E_max_GeV=f.E_max_GeV,
                            phi_GV=f.phi_GV)
        fits[eps] = fit
        log.info("fit ε = %g: χ²/dof = %.1f/%d, %s", eps, fit.chi2, fit.dof,
                 ", ".join(f"{k} = {v:.4g}" for k, v in fit.values.items()))
        p = out_dir / f"fit_eps_{_eps_tag(eps)}.json"
        _write_json(p, fit.to_dict())
        paths.append(p)
    png = out_dir / "local_proton_spectrum.png"
    plot_local_spectrum(data, curves_from_fits({f"ε = {e:g}": r for e, r in fits.items()}), png,
                        E_window_GeV=(f.E_min_GeV, f.E_max_GeV), title=f"{cfg.field.model}, {cfg.grid.mesh}")
    paths.append(png)
    return paths, {f"{e:g}": r.to_dict() for e, r in fits.items()}


def rescale_from_fit_json(cr: CRDensity, fit_json: Path, spectrum_ref) -> CRDensity:
    """Reweight a reference-spectrum solution by a saved fit: n → n · Q_fit(E)/S_ref(E)."""
    from .spectra import spectrum_from_dict
    fitted = spectrum_from_dict(json.loads(Path(fit_json).read_text())["spectrum"])
    E = cr.E_GeV
    rescaled = cr.scaled(np.asarray(fitted(E)) / np.asarray(spectrum_ref(E)))
    rescaled.meta["rescaled_by_fit"] = str(fit_json)
    return rescaled


def skymap_stage(cfg: Config, cr_path: Path, fit_json: Path | None, out_dir: Path, tag: str) -> list[Path]:
    """Fig. 3 inputs: γ (or ν) sky maps at the map energies and on the spectrum grid, for one CR density.

    Writes ``<tag>_maps.h5`` (all energies, units, provenance), ``<tag>_maps.fits`` (the map energies,
    HEALPix RING, Galactic) and a Mollweide PNG per map energy.
    """
    from . import emission
    from .emission import products
    from .plots.maps import plot_skymap
    cr = CRDensity.load(cr_path)
    if fit_json is not None:
        cr = rescale_from_fit_json(cr, fit_json, builders.build_spectrum(cfg))
    sk = cfg.skymap
    E_maps = np.asarray(sk.E_gamma_GeV, dtype=float)
    E_spec = np.geomspace(sk.spectrum_E_min_GeV, sk.spectrum_E_max_GeV, sk.spectrum_n_E)
    E_all = np.unique(np.concatenate([E_maps, E_spec]))
    maps = emission.skymap(cr, builders.build_gas(cfg), E_all, sk.nside, observer_kpc=cfg.sun_kpc,
                           cross_section=sk.cross_section, particle=sk.particle, helium_fraction=sk.helium_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    attrs = {"epsilon": cr.meta.get("epsilon", float("nan")), "particle": sk.particle,
             "cross_section": sk.cross_section, "gas": sk.gas, "observer_kpc": list(cfg.sun_kpc),
             "rescaled_by_fit": str(fit_json or "")}
    paths = [products.save_h5(out_dir / f"{tag}_maps.h5", maps, E_all, attrs=attrs, config_text=to_toml(cfg))]
    at = products.maps_at(maps, E_all, E_maps)
    paths += products.save_fits(out_dir / f"{tag}_maps.fits", at, E_maps,
                                extra_header={"PARTICLE": sk.particle, "XSEC": sk.cross_section})
    label = f"{sk.particle}, {cfg.field.model}, ε = {cr.meta.get('epsilon', '?')}"
    for i, E in enumerate(E_maps):
        paths.append(plot_skymap(at[i], out_dir / f"{tag}_map_{E:g}GeV.png", title=label, E_GeV=E))
    return paths


def window_means(maps_h5: Path, E_GeV: float) -> dict[str, float]:
    """Solid-angle mean intensity at ``E_GeV`` in the LHAASO inner/outer windows and over the whole sky."""
    from .emission import products
    maps, E, _ = products.load_h5(maps_h5)
    m = products.maps_at(maps, E, [E_GeV])
    out = {"all_sky": float(m[0].mean())}
    for name, key in (("inner", "lhaaso_inner"), ("outer", "lhaaso_outer")):
        out[name] = float(products.regional_spectrum(m, key)[0])
    return out


def ratio_stage(cfg: Config, map_files: dict[float, Path], out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 4: ratio maps I(ε_a)/I(ε_b) between neighbouring ε at each map energy, and window-mean ratios."""
    from .emission import products
    eps_sorted = sorted(map_files, reverse=True)
    E_maps = np.asarray(cfg.skymap.E_gamma_GeV, dtype=float)
    paths, numbers = [], {}
    for a, b in zip(eps_sorted[:-1], eps_sorted[1:]):
        ma, Ea, _ = products.load_h5(map_files[a])
        mb, Eb, _ = products.load_h5(map_files[b])
        ra = products.maps_at(ma, Ea, E_maps)
        rb = products.maps_at(mb, Eb, E_maps)
        for i, E in enumerate(E_maps):
            paths.append(_plot_log_ratio(products.ratio_map(ra[i], rb[i]),
                                         out_dir / f"ratio_eps_{_eps_tag(a)}_over_{_eps_tag(b)}_{E:g}GeV.png",
                                         f"I(ε = {a:g}) / I(ε = {b:g}) at {E:g} GeV"))
        wa, wb = window_means(map_files[a], E_maps[0]), window_means(map_files[b], E_maps[0])
        numbers[f"{a:g}/{b:g}"] = {k: wa[k] / wb[k] for k in wa} | {"E_GeV": float(E_maps[0])}
    return paths, numbers


def _plot_log_ratio(ratio: np.ndarray, path: Path, title: str) -> Path:
    """Ratio map on a symmetric log₂ scale (0 = equal, ±1 = factor 2), clipped at the 99.5 % quantile."""
    from .plots.maps import plot_ratio_map
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(ratio > 0, np.log2(ratio), np.nan)
    finite = np.isfinite(lr)
    span = float(np.nanpercentile(np.abs(lr[finite]), 99.5)) if finite.any() else 1.0
    return plot_ratio_map(lr, path, title=title, center=0.0, span=span or 1.0,
                          unit="log$_2$ ratio")


def spectra_stage(cfg: Config, map_files: dict[float, Path], out_dir: Path) -> list[Path]:
    """Fig. 5: LHAASO inner/outer (and Tibet/ARGO) window spectra for every ε with data points."""
    from .emission import products
    from .plots.maps import plot_lhaaso_regions, plot_regional_spectra
    by_run, E = {}, None
    for eps, path in sorted(map_files.items(), reverse=True):
        maps, E, _ = products.load_h5(path)
        by_run[f"ε = {eps:g}"] = maps
    paths = list(plot_lhaaso_regions(E, by_run, out_dir, data_dir=cfg.data_dir or None))
    for win in ("tibet_region1", "tibet_region2", "argo_region1", "argo_region2"):
        if win in products.WINDOWS:
            spectra = {run: products.regional_spectrum(m, win) for run, m in by_run.items()}
            paths.append(plot_regional_spectra(E, spectra, out_dir / f"spectrum_{win}.png",
                                               title=products.WINDOWS[win].label))
    return paths


def _write_json(path: Path, payload: dict) -> None:
    from .io import atomic_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=float))


# ------------------------------------------------------------------------------------------ the chain
ALL_STAGES = ("fields", "solve", "sde", "fit", "skymap", "ratios", "spectra", "summary")


def run_study(cfg: Config, petsc_options: dict | None = None, force: bool = False,
              only: list[str] | None = None) -> Path:
    """Run (or resume) the whole study; returns the path of ``summary.md``."""
    rank, size = mpi_rank_size()
    bad = [s for s in (only or []) if s not in ALL_STAGES]
    if bad:
        from .config import ConfigError
        raise ConfigError(f"--stages {bad}: unknown; allowed: {', '.join(ALL_STAGES)}")
    want = set(only or ALL_STAGES)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out)
    if rank == 0:
        from .io import atomic_path
        with atomic_path(out / "config.resolved.toml") as tmp:
            tmp.write_text(to_toml(cfg))
        log.info("study → %s (%d MPI rank%s)", out.resolve(), size, "s" if size > 1 else "")
    timings: dict[str, float] = {}

    def stage(name: str, key: str, func, collective: bool = False):
        """Run ``func`` unless current; returns its outputs. Collective stages run on all ranks."""
        if not force and _bcast(manifest.is_current(name, key) if rank == 0 else None):
            log.info("stage %-22s up to date (skipped)", name)
            return manifest.info(name)
        t0 = time.perf_counter()
        if collective:
            outputs, info = func()
        elif rank == 0:
            outputs, info = func()
        else:
            outputs, info = [], {}
        _barrier()
        if rank == 0:
            timings[name] = time.perf_counter() - t0
            manifest.record(name, key, outputs, {"info": info, "seconds": round(timings[name], 2)})
            log.info("stage %-22s done in %.1f s", name, timings[name])
        return _bcast(manifest.info(name) if rank == 0 else None)

    eps_list = list(cfg.diffusion.epsilon)
    if "fields" in want:
        stage("fields", stage_key("fields", cfg.section_text("field")),
              lambda: (plot_fields_stage(cfg, out / "fields"), {}))
    cr_paths = {e: out / "cr" / f"cr_eps_{_eps_tag(e)}.h5" for e in eps_list}
    if "solve" in want:
        numdiff = stage("numerical_diffusion", numdiff_key(cfg),
                        lambda: numerical_diffusion_stage(cfg, out / "diagnostics"), collective=True).get("info", {})
        for e in progress(eps_list, desc="solve ε"):
            def _solve(e=e):
                p = solve_one(cfg, e, cr_paths[e], petsc_options, numdiff=numdiff.get(_eps_tag(e)))
                meta = CRDensity.load(p).meta if rank == 0 else {}
                return [p], {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items()
                             if isinstance(v, (int, float, str, bool, np.generic))}
            stage(f"solve_eps_{_eps_tag(e)}", solve_key(cfg, e), _solve, collective=True)
    if "sde" in want and cfg.sde.enabled:
        e0 = eps_list[0]
        sde_path = out / "sde" / f"sde_eps_{_eps_tag(e0)}.h5"
        stage("sde", stage_key("sde", solve_key(cfg, e0), cfg.section_text("sde")),
              lambda: ([run_sde(cfg, e0, str(sde_path))], {}), collective=True)
        stage("compare", stage_key("compare", solve_key(cfg, e0), cfg.section_text("sde")),
              lambda: _compare_stage(cr_paths[e0], sde_path, out / "compare"))
    fit_info = {}
    if "fit" in want:
        fit_info = stage("fit", fit_key(cfg), lambda: fit_stage(cfg, cr_paths, out / "fit")).get("info", {})
    map_files: dict[float, Path] = {}
    if "skymap" in want or "ratios" in want or "spectra" in want:
        for e in eps_list:
            fit_json = out / "fit" / f"fit_eps_{_eps_tag(e)}.json"
            name = f"skymap_eps_{_eps_tag(e)}"
            if "skymap" not in want:           # only read what an earlier run made
                info = _bcast(manifest.info(name) if rank == 0 else None)
            else:
                info = stage(name, skymap_key(cfg, e),
                             lambda e=e, fj=fit_json: (skymap_stage(cfg, cr_paths[e], fj if fj.exists() else None,
                                                                    out / "skymaps", f"eps_{_eps_tag(e)}"), {}))
            h5s = [o for o in info.get("outputs", []) if o.endswith(".h5")]
            if h5s:
                map_files[e] = out / h5s[0]
    ratio_info = {}
    if "ratios" in want and len(map_files) > 1:
        ratio_info = stage("ratios", stage_key("ratios", *(skymap_key(cfg, e) for e in eps_list)),
                           lambda: ratio_stage(cfg, map_files, out / "ratios")).get("info", {})
    if "spectra" in want and map_files:
        stage("spectra", stage_key("spectra", *(skymap_key(cfg, e) for e in eps_list)),
              lambda: (spectra_stage(cfg, map_files, out / "spectra"), {}))
    summary = out / "summary.md"
    if "summary" in want and rank == 0:
        from .report import write_summary
        write_summary(cfg, out, Manifest(out), summary)
        log.info("summary: %s", summary.resolve())
    _barrier()
    return summary


def _compare_stage(grid_path: Path, sde_path: Path, out_dir: Path):
    from .analysis.compare import compare
    report = compare(CRDensity.load(grid_path), CRDensity.load(sde_path), out_dir)
    return list(report.files), report.summary()


# ------------------------------------------------------------------------------------------ CLI helpers
def fit_files(cfg: Config, cr_files: list[str], out: str | None = None) -> list[str]:
    paths = {}
    for f in cr_files:
        cr = CRDensity.load(f)
        paths[float(cr.meta.get("epsilon", len(paths)))] = Path(f)
    outputs, info = fit_stage(cfg, paths, Path(out) if out else Path(cfg.output_dir) / "fit")
    lines = [f"wrote {p}" for p in outputs]
    for eps, d in info.items():
        errs = d.get("errors", {})
        lines.append(f"ε = {eps}: χ²/dof = {d['chi2']:.1f}/{d['dof']}  " + "  ".join(
            f"{k} = {v:.4g} ± {errs.get(k) if errs.get(k) is not None else float('inf'):.2g}"
            for k, v in d.get("values", {}).items()))
    return lines


def skymap_file(cfg: Config, cr_file: str, fit_json: str | None = None, out: str | None = None) -> list[Path]:
    tag = Path(cr_file).stem
    return skymap_stage(cfg, Path(cr_file), Path(fit_json) if fit_json else None,
                        Path(out) if out else Path(cfg.output_dir) / "skymaps", tag)


def compare_files(reference: str, other: str, out: str) -> str:
    files, summary = _compare_stage(Path(reference), Path(other), Path(out))
    return json.dumps(summary, indent=1, default=float) + "\n" + "\n".join(f"wrote {f}" for f in files)


def plot_field(args) -> list[Path]:
    from .fields import field_from_name
    from .plots.fields import plot_field as _plot
    models = args.model or ["uf23:base", "jf12-solenoidal"]
    paths = []
    for m in models:
        p = Path(args.out) / f"field_{m.replace(':', '_')}.png"
        _plot(field_from_name(m), p, title=m)
        paths.append(p)
    return paths


def plot_map(args) -> list[Path]:
    """Mollweide plot of every energy in a map file (fpgal HDF5 or FITS), or of the ratio of two files."""
    from .emission import products
    from .plots.maps import plot_skymap

    def read(path: str):
        if path.endswith(".h5"):
            maps, E, _ = products.load_h5(path)
            return maps, E
        import healpy as hp
        E = products.read_fits_energies(path)
        return np.atleast_2d(hp.read_map(path, field=tuple(range(len(E))))), E

    maps, E = read(args.path)
    stem = Path(args.out).with_suffix("") if args.out else Path(args.path).with_suffix("")
    if args.ratio_to:
        other, E2 = read(args.ratio_to)
        other = products.maps_at(other, E2, E)
        return [_plot_log_ratio(products.ratio_map(maps[i], other[i]), Path(f"{stem}_ratio_{e:g}GeV.png"),
                                f"{Path(args.path).name} / {Path(args.ratio_to).name}, {e:g} GeV")
                for i, e in enumerate(E)]
    return [plot_skymap(maps[i], Path(f"{stem}_{e:g}GeV.png"), title=Path(args.path).name, E_GeV=e)
            for i, e in enumerate(E)]


def plot_cr(args) -> list[Path]:
    from .plots.crslices import plot_cr_file
    return [plot_cr_file(args.path, energy_GeV=args.energy_GeV, out=args.out)]


def field_info(model: str, mesh: str) -> str:
    from .fields import divergence_diagnostic, field_from_name
    from .grid import Grid
    grid = Grid.from_mesh(mesh)
    return f"{model} on {grid!r}:\n{divergence_diagnostic(field_from_name(model), grid)}"
