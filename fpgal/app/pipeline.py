"""The study as a chain of stages: field → tensor → solve (each ε) → fit → sky maps → ratios → spectra → summary.

Every stage is a small function of the validated config that writes files and returns their paths;
:func:`run_study` chains them through a :class:`fpgal.stages.Manifest` so finished stages are skipped
(resumable) and changed ones are redone. Under MPI every rank takes part in the solves; the
post-processing stages run on rank 0 while the others wait (:func:`on_root`: the outcome, result or
exception, reaches every rank); the collective ones agree on failure (:func:`collective`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from . import builders
from ..core import mpi
from .config import Config, to_toml
from ..core.log import get_logger, mpi_rank_size, progress
from ..transport.petsc_options import solver_options
from ..result import CRDensity
from .stages import Manifest, StageRunner, stage_key

log = get_logger("pipeline")
T = TypeVar("T")


def _eps_tag(eps: float) -> str:
    return f"{eps:g}"


class InputFileError(RuntimeError):
    """An input file (CR density, fit result, map) is missing, unreadable or not what fpgal expects;
    the message names the file."""


class OutputDirError(RuntimeError):
    """The output folder cannot be created or written."""


# ------------------------------------------------------------------------------------------ MPI discipline
def _barrier() -> None:
    mpi.wait_all(mpi.world())


def on_root(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 of COMM_WORLD only; every rank returns its result or raises its exception
    (:func:`fpgal.mpi.on_root`), so an error in a rank-0-only stage ends every rank with its message."""
    return mpi.on_root(fn, mpi.world())


def collective(fn: Callable[[], T]) -> T:
    """Run ``fn`` on every rank of COMM_WORLD; if it raised on any rank, raise on every rank
    (:func:`fpgal.mpi.collective`)."""
    return mpi.collective(fn, mpi.world())


# ------------------------------------------------------------------------------------------ keys
# A stage key hashes everything the stage reads: the config sections its function uses and the keys (or
# contents) of the files it consumes. An unchanged key with every output present means "up to date".
def solve_key(cfg: Config, eps: float) -> str:
    """Grid, field, source, spectrum, boundary, losses, D∥, ε and the tolerance (and the observer
    when pp losses place the gas model by the Sun's distance)."""
    parts = [cfg.section_text("grid", "field", "source", "spectrum", "boundary", "losses"),
             repr({k: v for k, v in vars(cfg.diffusion).items() if k != "epsilon"}), repr(eps),
             repr(cfg.solver.rtol)]
    if cfg.losses.pp:
        parts.append(cfg.section_text("observer"))
    return stage_key("solve", *parts)


def numdiff_key(cfg: Config) -> str:
    return stage_key("numerical_diffusion", cfg.section_text("grid", "field"), repr(list(cfg.diffusion.epsilon)))


def _data_dir_parts(cfg: Config) -> list[str]:
    """The reference-table folder when it does not come from the config (``$FPGAL_DATA``)."""
    env = os.environ.get("FPGAL_DATA", "")
    return [f"FPGAL_DATA={env}"] if env and not cfg.data_dir else []


def fit_key(cfg: Config) -> str:
    """The solves of every ε, the fit window/data/parameters, the observer and the data folder."""
    return stage_key("fit", *(solve_key(cfg, e) for e in cfg.diffusion.epsilon), cfg.section_text("fit", "observer"),
                     cfg.data_dir, *_data_dir_parts(cfg))


def fit_text(fit_json: Path | None) -> str:
    """What a sky map's rescaling reads: the fit result's bytes (hashed), or that there is none."""
    if fit_json is None:
        return "no fit"
    return "fit " + hashlib.sha256(Path(fit_json).read_bytes()).hexdigest()


def skymap_key(cfg: Config, eps: float, fit_json: Path | None = None) -> str:
    """The solve, the fit result applied (its contents; "no fit" when the maps are not rescaled), the
    sky-map settings and the observer."""
    return stage_key("skymap", solve_key(cfg, eps), fit_text(fit_json), cfg.section_text("skymap", "observer"))


def maps_key(name: str, cfg: Config, recorded: dict[float, str]) -> str:
    """Ratios / spectra: the recorded keys of the sky-map files they read, the map energies and the
    data folder (the regional spectra plot the LHAASO/Tibet/ARGO points)."""
    return stage_key(name, *(f"{e!r}:{k}" for e, k in sorted(recorded.items())), repr(cfg.skymap.E_gamma_GeV),
                     cfg.data_dir, *_data_dir_parts(cfg))


# ------------------------------------------------------------------------------------------ stages
def plot_fields_stage(cfg: Config, out_dir: Path) -> list[Path]:
    """Fig. 1: field lines face-on and edge-on for the study's field (and the other of UF23/JF12-solenoidal)."""
    from ..model.fields import field_from_name
    from ..plots.fields import plot_field
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
    from ..transport.diagnostics import numerical_diffusion
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
    from ..transport import solve_steady
    grid = builders.build_grid(cfg)
    tensor = builders.build_tensor(cfg, eps)
    losses = None
    if cfg.losses.pp:
        from ..transport.losses import PPLosses
        losses = PPLosses(builders.build_gas(cfg, cfg.losses.gas))
    if numdiff is None:
        from ..transport.diagnostics import numerical_diffusion
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
    from ..sde import steady_state
    eps = epsilon if epsilon is not None else cfg.diffusion.epsilon[0]
    grid = builders.build_grid(cfg)
    # the particles read a lookup table (default: half the cell size), which the compiled kernel needs
    kwargs = {"lookup_spacing_kpc": cfg.sde.lookup_kpc or 0.5 * float(min(grid.spacing_kpc)), "kernel": cfg.sde.kernel}
    if cfg.sde.dt_s:
        kwargs["dt_s"] = cfg.sde.dt_s
    if cfg.losses.pp:
        from ..transport.losses import PPLosses
        kwargs["losses"] = PPLosses(builders.build_gas(cfg, cfg.losses.gas))
    if n_particles is not None and (isinstance(n_particles, bool) or not isinstance(n_particles, int)
                                    or n_particles < 1):
        raise ValueError(f"run_sde: n_particles = {n_particles!r}: expected an integer >= 1 (None: sde.n_particles)")
    cr = steady_state(grid, builders.build_tensor(cfg, eps), builders.build_source(cfg), builders.build_spectrum(cfg),
                      n_particles=cfg.sde.n_particles if n_particles is None else n_particles, seed=cfg.sde.seed if seed is None else seed,
                      boundary=builders.build_boundary(cfg), mode=mode or cfg.sde.mode,
                      richardson={"pair": True, "extrapolate": "extrapolate", "off": False}[cfg.sde.step_bias], **kwargs)
    path = Path(out) if out else Path(cfg.output_dir) / "sde" / f"sde_eps_{_eps_tag(eps)}.h5"
    cr.meta.update(epsilon=eps)
    cr.save(path, config_text=to_toml(cfg))          # collective: rank 0 writes, all ranks return after
    _barrier()
    return path


def fit_stage(cfg: Config, cr_paths: dict[float, Path], out_dir: Path, plots: bool = True) -> tuple[list[Path], dict]:
    """Fig. 2: fit Q(p) (paper eq. 2) to the local proton data for each ε by reweighting the solved basis
    (``plots=False``: the fit results without the PNG, ~95 % of the stage's time)."""
    from ..analysis.crdata import load_experiments
    from ..analysis.fit import fit_injection
    from ..plots.spectra import curves_from_fits, plot_local_spectrum
    f = cfg.fit
    data = load_experiments(f.experiments, data_dir=cfg.data_dir or None, E_min_GeV=f.E_min_GeV,
                            E_max_GeV=f.E_max_GeV)
    spectrum_ref = builders.build_spectrum(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    fits, paths = {}, []
    for eps, path in cr_paths.items():
        fit = fit_injection(load_cr(path), data, spectrum_ref, free=tuple(f.free), sun_kpc=cfg.sun_kpc,
                            radius_kpc=f.radius_kpc, E_min_GeV=f.E_min_GeV, E_max_GeV=f.E_max_GeV,
                            phi_GV=f.phi_GV)
        fits[eps] = fit
        log.info("fit ε = %g: χ²/dof = %.1f/%d, %s", eps, fit.chi2, fit.dof,
                 ", ".join(f"{k} = {v:.4g}" for k, v in fit.values.items()))
        p = out_dir / f"fit_eps_{_eps_tag(eps)}.json"
        _write_json(p, fit.to_dict())
        paths.append(p)
    if plots:
        png = out_dir / "local_proton_spectrum.png"
        plot_local_spectrum(data, curves_from_fits({f"ε = {e:g}": r for e, r in fits.items()}), png,
                            E_window_GeV=(f.E_min_GeV, f.E_max_GeV), title=f"{cfg.field.model}, {cfg.grid.mesh}")
        paths.append(png)
    return paths, {f"{e:g}": r.to_dict() for e, r in fits.items()}


def load_cr(path: str | os.PathLike, what: str = "CR density file") -> CRDensity:
    """:meth:`CRDensity.load` with an error that names the file (:class:`InputFileError`)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{what} {str(path)!r}: " + ("is a folder" if path.is_dir() else "no such file"))
    try:
        return CRDensity.load(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputFileError(f"{what} {str(path)!r}: not a readable fpgal CR density (docs/formats.md): "
                             f"{type(exc).__name__}: {exc}") from exc


def read_fit_spectrum(fit_json: str | os.PathLike):
    """The fitted injection spectrum of a fit result JSON (``fpgal fit``), with errors naming the file."""
    from ..model.spectra import spectrum_from_dict
    path = Path(fit_json)
    if not path.is_file():
        raise InputFileError(f"fit result {str(path)!r}: no such file")
    try:
        return spectrum_from_dict(json.loads(path.read_text())["spectrum"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"fit result {str(path)!r}: not a fit result JSON of `fpgal fit` "
                             f"({type(exc).__name__}: {exc})") from exc


def rescale_from_fit_json(cr: CRDensity, fit_json: Path, spectrum_ref) -> CRDensity:
    """Reweight a reference-spectrum solution by a saved fit: n → n · Q_fit(E)/S_ref(E)."""
    fitted = read_fit_spectrum(fit_json)
    E = cr.E_GeV
    rescaled = cr.scaled(np.asarray(fitted(E)) / np.asarray(spectrum_ref(E)))
    rescaled.meta["rescaled_by_fit"] = str(fit_json)
    return rescaled


def skymap_stage(cfg: Config, cr_path: Path, fit_json: Path | None, out_dir: Path, tag: str,
                 plots: bool = True) -> list[Path]:
    """Fig. 3 inputs: γ (or ν) sky maps at the map energies and on the spectrum grid, for one CR density.

    Writes ``<tag>_maps.h5`` (all energies, units, provenance), ``<tag>_maps.fits`` (the map energies,
    HEALPix RING, Galactic) and a Mollweide PNG per map energy (unless ``plots=False``).
    """
    from .. import emission
    from ..emission import products
    from ..plots.maps import plot_skymap
    cr = load_cr(cr_path)
    if fit_json is not None:
        cr = rescale_from_fit_json(cr, fit_json, builders.build_spectrum(cfg))
    sk = cfg.skymap
    E_maps = np.asarray(sk.E_gamma_GeV, dtype=float)
    E_spec = np.geomspace(sk.spectrum_E_min_GeV, sk.spectrum_E_max_GeV, sk.spectrum_n_E)
    E_all = np.unique(np.concatenate([E_maps, E_spec]))
    maps = emission.skymap(cr, builders.build_gas(cfg), E_all, sk.nside, sun_kpc=cfg.sun_kpc,
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
    for i, E in enumerate(E_maps if plots else []):
        paths.append(plot_skymap(at[i], out_dir / f"{tag}_map_{E:g}GeV.png", title=label, E_GeV=E))
    return paths


def window_means(maps_h5: Path, E_GeV: float) -> dict[str, float]:
    """Solid-angle mean intensity at ``E_GeV`` in the LHAASO inner/outer windows and over the whole sky."""
    from ..emission import products
    maps, E, _ = products.load_h5(maps_h5)
    m = products.maps_at(maps, E, [E_GeV])
    out = {"all_sky": float(m[0].mean())}
    for name, key in (("inner", "lhaaso_inner"), ("outer", "lhaaso_outer")):
        out[name] = float(products.regional_spectrum(m, key)[0])
    return out


def ratio_stage(cfg: Config, map_files: dict[float, Path], out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 4: ratio maps I(ε_a)/I(ε_b) between neighbouring ε at each map energy, and window-mean ratios."""
    from ..emission import products
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
    from ..plots.maps import plot_ratio_map
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(ratio > 0, np.log2(ratio), np.nan)
    finite = np.isfinite(lr)
    span = float(np.nanpercentile(np.abs(lr[finite]), 99.5)) if finite.any() else 1.0
    return plot_ratio_map(lr, path, title=title, center=0.0, span=span or 1.0,
                          unit="log$_2$ ratio")


def spectra_stage(cfg: Config, map_files: dict[float, Path], out_dir: Path) -> list[Path]:
    """Fig. 5: LHAASO inner/outer (and Tibet/ARGO) window spectra for every ε with data points."""
    from ..emission import products
    from ..plots.maps import plot_lhaaso_regions, plot_regional_spectra
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
    from ..core.files import atomic_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=float))


# ------------------------------------------------------------------------------------------ checks at the door
ALL_STAGES = ("fields", "solve", "sde", "fit", "nuclei", "skymap", "ratios", "spectra", "mesh_error", "summary")
#: fpgal's temporary files (:func:`fpgal.files.atomic_path`: ``.<name>.<8 random characters>.partial``)
PARTIAL_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.partial$")


def check_study(cfg: Config, stages: set[str] | frozenset[str] = frozenset(ALL_STAGES)) -> None:
    """Build what ``stages`` will need (grid, field, tensors, source, spectrum, gas models, fit data
    sets) and cross-check energies against the mesh, so a wrong name or range is a
    :class:`~fpgal.config.ConfigError` before any stage runs rather than after the first ones."""
    grid = _checked_grid(cfg)
    if stages & {"fields", "solve", "sde"}:
        field = builders.build_field(cfg)
    if stages & {"solve", "sde"}:
        for e in cfg.diffusion.epsilon:
            _as_config_error(f"config key 'diffusion.epsilon' = {e!r}", lambda e=e: builders.build_tensor(cfg, e, field))
        builders.build_source(cfg)
        builders.build_boundary(cfg)
        if cfg.losses.pp:
            builders.build_gas(cfg, cfg.losses.gas)
    if stages & {"solve", "sde", "fit", "skymap"}:
        builders.build_spectrum(cfg)
    if "skymap" in stages:
        builders.build_gas(cfg)
    if "fit" in stages:
        _check_fit(cfg, grid)
    if "nuclei" in stages:
        from .nuclei_stage import check_nuclei
        check_nuclei(cfg)


def _as_config_error(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        from .config import ConfigError
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{what}: {exc}") from None


def _checked_grid(cfg: Config):
    """The study's grid; energy overrides that contradict the mesh are a ConfigError naming the keys."""
    from .config import ConfigError
    g = cfg.grid
    keys = (f"config keys 'grid.E_min_GeV' = {g.E_min_GeV:g}, 'grid.E_max_GeV' = {g.E_max_GeV:g}, "
            f"'grid.n_E' = {g.n_E} on mesh {g.mesh!r}")
    grid = _as_config_error(keys, lambda: builders.build_grid(cfg))
    E = np.asarray(grid.E_GeV, dtype=float)
    if E.size > 1 and not np.all(np.diff(E) > 0):
        raise ConfigError(f"{keys}: the energy axis runs from {E[0]:g} to {E[-1]:g} GeV in {E.size} steps; "
                          "expected E_min_GeV < E_max_GeV (0 keeps the mesh's value)")
    return grid


def _check_fit(cfg: Config, grid) -> None:
    """Fit data-set names resolve, and the fit window overlaps the grid's energies."""
    from ..analysis.crdata import resolve_experiment
    from .config import ConfigError
    for name in cfg.fit.experiments:
        try:
            resolve_experiment(name, data_dir=cfg.data_dir or None)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"config key 'fit.experiments': {exc}") from None
    E = grid.E_GeV
    if cfg.fit.E_min_GeV > E[-1] or cfg.fit.E_max_GeV < E[0]:
        raise ConfigError(f"config keys 'fit.E_min_GeV' = {cfg.fit.E_min_GeV:g} and 'fit.E_max_GeV' = "
                          f"{cfg.fit.E_max_GeV:g}: the fit window misses the grid's energies "
                          f"{E[0]:g}–{E[-1]:g} GeV (mesh {cfg.grid.mesh!r})")


def sweep_partial_files(out: Path) -> list[Path]:
    """Remove fpgal temporary files (``.<name>.<random>.partial``) a killed run left in ``out``."""
    removed = []
    for path in out.rglob(".*.partial"):
        if path.is_file() and PARTIAL_FILE.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted run in %s", len(removed), out)
    return removed


def prepare_output_dir(out: Path) -> None:
    """Create ``out`` and make sure a file can be written there (:class:`OutputDirError` if not)."""
    import tempfile
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fpgal-write-test."):
            pass
    except OSError as exc:
        raise OutputDirError(f"output folder {str(out)!r} is not writable: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------ the chain
def run_study(cfg: Config, petsc_options: dict | None = None, force: bool = False,
              only: list[str] | None = None) -> Path:
    """Run (or resume) the whole study; returns the path of ``summary.md``.

    Before any stage: the stage names, the config's names and ranges (:func:`check_study`) and the
    output folder are checked, and temporary files of a killed run are removed. Under MPI every
    error ends every rank with the same message: rank-0-only stages broadcast their outcome
    (:func:`on_root`), collective ones agree on failure (:func:`collective`). The stages, in order:
    transport (fields, numerical diffusion, solves, SDE), fits, sky maps, products of the maps.
    """
    want = _wanted_stages(only)
    collective(lambda: check_study(cfg, want))
    out = Path(cfg.output_dir)
    run = StageRunner(Manifest(out, read=False), force=force)
    on_root(lambda: _start_output(cfg, out, run.manifest))
    eps_list = list(cfg.diffusion.epsilon)
    cr_paths = {e: out / "cr" / f"cr_eps_{_eps_tag(e)}.h5" for e in eps_list}
    _transport_stages(cfg, run, want, out, cr_paths, petsc_options)
    if "fit" in want:
        run.run("fit", fit_key(cfg), lambda: fit_stage(cfg, cr_paths, out / "fit"))
    if "nuclei" in want:
        from .nuclei_stage import nuclei_enabled, nuclei_key, nuclei_stage   # helium, knee, neutrinos
        if nuclei_enabled(cfg):
            run.run("nuclei", nuclei_key(cfg), lambda: nuclei_stage(cfg, cr_paths, out / "nuclei"))
    map_files, recorded = _skymap_stages(cfg, run, want, out, cr_paths)
    _map_product_stages(cfg, run, want, out, map_files, recorded, petsc_options)
    summary = out / "summary.md"
    if "summary" in want:
        def write():
            from .report import write_summary
            write_summary(cfg, out, Manifest(out), summary)
            log.info("summary: %s", summary.resolve())
        on_root(write)
    return summary


def _wanted_stages(only: list[str] | None) -> set[str]:
    bad = [s for s in (only or []) if s not in ALL_STAGES]
    if bad:
        from .config import ConfigError
        raise ConfigError(f"--stages {bad}: unknown; allowed: {', '.join(ALL_STAGES)}")
    return set(only or ALL_STAGES)


def _start_output(cfg: Config, out: Path, manifest: Manifest) -> None:
    """Rank 0: create/check the folder, remove a killed run's temporaries, read the manifest, write the config."""
    from ..core.files import atomic_path
    prepare_output_dir(out)
    sweep_partial_files(out)
    manifest.entries = Manifest(out).entries
    with atomic_path(out / "config.resolved.toml") as tmp:
        tmp.write_text(to_toml(cfg))
    size = mpi_rank_size()[1]
    log.info("study → %s (%d MPI rank%s)", out.resolve(), size, "s" if size > 1 else "")


def _transport_stages(cfg: Config, run: StageRunner, want: set[str], out: Path, cr_paths: dict[float, Path],
                      petsc_options: dict | None) -> None:
    """Field plots, the ring test of the numerical diffusion, one grid solve per ε, the optional SDE."""
    eps_list = list(cr_paths)
    if "fields" in want:
        run.run("fields", stage_key("fields", cfg.section_text("field")),
                lambda: (plot_fields_stage(cfg, out / "fields"), {}))
    if "solve" in want:
        numdiff = run.run("numerical_diffusion", numdiff_key(cfg),
                          lambda: numerical_diffusion_stage(cfg, out / "diagnostics"),
                          collective_stage=True).get("info", {})
        rank = mpi_rank_size()[0]
        for e in progress(eps_list, desc="solve ε"):
            def _solve(e=e):
                p = solve_one(cfg, e, cr_paths[e], petsc_options, numdiff=numdiff.get(_eps_tag(e)))
                meta = CRDensity.load(p).meta if rank == 0 else {}
                return [p], {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items()
                             if isinstance(v, (int, float, str, bool, np.generic))}
            run.run(f"solve_eps_{_eps_tag(e)}", solve_key(cfg, e), _solve, collective_stage=True)
    if "sde" in want and cfg.sde.enabled:
        e0 = eps_list[0]
        sde_path = out / "sde" / f"sde_eps_{_eps_tag(e0)}.h5"
        run.run("sde", stage_key("sde", solve_key(cfg, e0), cfg.section_text("sde")),
                lambda: ([run_sde(cfg, e0, str(sde_path))], {}), collective_stage=True)
        run.run("compare", stage_key("compare", solve_key(cfg, e0), cfg.section_text("sde")),
                lambda: _compare_stage(cr_paths[e0], sde_path, out / "compare"))


def _skymap_stages(cfg: Config, run: StageRunner, want: set[str], out: Path,
                   cr_paths: dict[float, Path]) -> tuple[dict[float, Path], dict[float, str]]:
    """One sky-map stage per ε (rescaled by its fit); returns the map files and their stage keys
    (with ``skymap`` not wanted, only what an earlier run made)."""
    map_files: dict[float, Path] = {}
    recorded: dict[float, str] = {}
    if not ({"skymap", "ratios", "spectra"} & want):
        return map_files, recorded
    eps_list = list(cr_paths)
    fit_jsons = on_root(lambda: _fit_results(cfg, run.manifest, out, eps_list))
    for e in eps_list:
        name = f"skymap_eps_{_eps_tag(e)}"
        if "skymap" not in want:
            info = run.info(name)
        else:
            fj = fit_jsons.get(e)
            key = on_root(lambda e=e, fj=fj: skymap_key(cfg, e, fj))
            info = run.run(name, key, lambda e=e, fj=fj: (
                skymap_stage(cfg, cr_paths[e], fj, out / "skymaps", f"eps_{_eps_tag(e)}"), {}))
        h5s = [o for o in info.get("outputs", []) if o.endswith(".h5")]
        if h5s:
            map_files[e] = out / h5s[0]
            recorded[e] = info.get("key", "")
    return map_files, recorded


def _map_product_stages(cfg: Config, run: StageRunner, want: set[str], out: Path, map_files: dict[float, Path],
                        recorded: dict[float, str], petsc_options: dict | None) -> None:
    """Ratio maps, window spectra and the mesh-error companion (the study at twice the spacing)."""
    if "ratios" in want and len(map_files) > 1:
        run.run("ratios", maps_key("ratios", cfg, recorded), lambda: ratio_stage(cfg, map_files, out / "ratios"))
    if "spectra" in want and map_files:
        run.run("spectra", maps_key("spectra", cfg, recorded),
                lambda: (spectra_stage(cfg, map_files, out / "spectra"), {}))
    if "mesh_error" in want and map_files:
        from .studies.convergence import companion_stage
        run.run("mesh_error", stage_key("mesh_error", maps_key("mesh_error", cfg, recorded), fit_key(cfg)),
                lambda: companion_stage(cfg, out, petsc_options), collective_stage=True)


def _fit_results(cfg: Config, manifest: Manifest, out: Path, eps_list: list[float]) -> dict[float, Path]:
    """The fit result file of each ε if the fit stage is current for this config (else none: a fit
    left by another config must not rescale these maps)."""
    paths = {e: out / "fit" / f"fit_eps_{_eps_tag(e)}.json" for e in eps_list}
    if not manifest.is_current("fit", fit_key(cfg)):
        if any(p.is_file() for p in paths.values()):
            log.warning("fit results in %s belong to another configuration (or an unfinished fit): the sky maps "
                        "are not rescaled; run the fit stage to rescale them", out / "fit")
        return {}
    return {e: p for e, p in paths.items() if p.is_file()}


def _compare_stage(grid_path: Path, sde_path: Path, out_dir: Path):
    from ..analysis.compare import compare
    report = compare(load_cr(grid_path, "reference CR density"), load_cr(sde_path, "CR density"), out_dir)
    return list(report.files), report.summary()


# ------------------------------------------------------------------------------------------ CLI helpers
def fit_files(cfg: Config, cr_files: list[str], out: str | None = None) -> list[str]:
    paths = {}
    for f in cr_files:
        cr = load_cr(f)
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
    from ..model.fields import field_from_name
    from ..plots.fields import plot_field as _plot
    models = args.model or ["uf23:base", "jf12-solenoidal"]
    paths = []
    for m in models:
        p = Path(args.out) / f"field_{m.replace(':', '_')}.png"
        _plot(field_from_name(m), p, title=m)
        paths.append(p)
    return paths


def plot_map(args) -> list[Path]:
    """Mollweide plot of every energy in a map file (fpgal HDF5 or FITS), or of the ratio of two files."""
    from ..emission import products
    from ..plots.maps import plot_skymap

    def read(path: str):
        try:
            if path.endswith(".h5"):
                maps, E, _ = products.load_h5(path)
                return maps, E
            import healpy as hp
            E = products.read_fits_energies(path)
            return np.atleast_2d(hp.read_map(path, field=tuple(range(len(E))))), E
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise InputFileError(f"map file {path!r}: not a readable fpgal map file (HDF5 or FITS, "
                                 f"docs/formats.md): {type(exc).__name__}: {exc}") from exc

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
    from ..plots.crslices import plot_cr_file
    load_cr(args.path)                      # a damaged file: an error naming it
    return [plot_cr_file(args.path, energy_GeV=args.energy_GeV, out=args.out)]


def field_info(model: str, mesh: str) -> str:
    from .config import ConfigError
    from ..model.fields import divergence_diagnostic, field_from_name
    from ..core.grid import Grid
    try:
        grid = Grid.from_mesh(mesh)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"--mesh {mesh!r}: {exc}") from None
    try:
        field = field_from_name(model)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--model {model!r}: {exc}") from None
    return f"{model} on {grid!r}:\n{divergence_diagnostic(field, grid)}"
