"""The scan's stages: per field model the ring test (all ε), then per ε the solve, the local fit, the sky
maps and the scan row — each the pipeline's own stage function (:mod:`fpgal.pipeline`), so a row holds the
numbers ``fpgal run`` gives for that model and ε. One manifest (``<output_dir>/stages.json``) keys every
stage like ``fpgal run`` does: a rerun skips what is current, a changed setting redoes what it touches.

MPI: the ring tests and solves are collective (PETSc distributes the grid), fit, maps and rows run on
rank 0 while the other ranks wait (:func:`fpgal.pipeline.on_root`), as in ``fpgal run``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import pipeline
from ..config import Config, ConfigError, FieldConfig
from ...core.log import get_logger, mpi_rank_size
from ..stages import Manifest, stage_key

log = get_logger("scan")
E_REF_GeV = 1000.0          #: energy of the window intensities and ratio maps (1 TeV)


def eps_tag(eps: float) -> str:
    """ε as written in file and stage names (``fpgal run``'s rule, 6 significant digits)."""
    return pipeline._eps_tag(eps)


def model_tag(model: str) -> str:
    """A field-model name as a folder name: ``uf23:base`` → ``uf23_base``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", model.strip())


def model_config(cfg: Config, model: str, epsilons: list[float]) -> Config:
    """The single study of one model: ``cfg`` with ``field.model = model`` (its ``field.params`` only if
    ``model`` is the study's own model), ``diffusion.epsilon = epsilons`` and its own output folder."""
    params = dict(cfg.field.params) if model == cfg.field.model else {}
    return dataclasses.replace(cfg, field=FieldConfig(model=model, params=params),
                               diffusion=dataclasses.replace(cfg.diffusion, epsilon=[float(e) for e in epsilons]),
                               output_dir=str(Path(cfg.output_dir) / "models" / model_tag(model)))


@dataclass
class Stages:
    """``fpgal run``'s stage discipline: run ``func`` unless its key is current in the manifest (rank 0
    decides and records; collective stages run on every rank). ``computed`` lists what ran."""

    out: Path
    force: bool = False
    manifest: Manifest = None
    computed: list = field(default_factory=list)

    def __post_init__(self):
        self.manifest = Manifest(self.out, read=False)

    def start(self) -> None:
        """Rank 0: create/check the folder, sweep temporary files of a killed run, read the manifest."""
        def _start():
            pipeline.prepare_output_dir(self.out)
            pipeline.sweep_partial_files(self.out)
            self.manifest.entries = Manifest(self.out).entries
        pipeline.on_root(_start)

    def __call__(self, name: str, key: str, func, collective_stage: bool = False) -> dict:
        m = self.manifest
        if not self.force and pipeline.on_root(lambda: m.is_current(name, key)):
            log.debug("stage %s up to date (skipped)", name)
            return pipeline.on_root(lambda: m.info(name))
        t0 = time.perf_counter()
        outputs, info = pipeline.collective(func) if collective_stage else pipeline.on_root(func)
        self.computed.append(name)

        def record():
            seconds = time.perf_counter() - t0
            m.record(name, key, outputs, {"info": info, "seconds": round(seconds, 3)})
            log.info("stage %-40s done in %.1f s", name, seconds)
            return m.info(name)
        return pipeline.on_root(record)


def check_scan(cfg: Config) -> None:
    """Everything a scan reads, before any stage (collectively): each model's study
    (:func:`fpgal.pipeline.check_study`), and map energies that reach 1 TeV and the LHAASO points."""
    from ...emission.skydata import load_lhaaso_km2a
    sk = cfg.skymap
    lo = min(min(sk.E_gamma_GeV), sk.spectrum_E_min_GeV)
    hi = max(max(sk.E_gamma_GeV), sk.spectrum_E_max_GeV)
    E_data = np.concatenate([load_lhaaso_km2a(w, cfg.data_dir or None).E_GeV for w in ("inner", "outer")])
    need_lo, need_hi = min(E_data.min(), E_REF_GeV), max(E_data.max(), E_REF_GeV)
    if lo > need_lo * (1 + 1e-12) or hi < need_hi * (1 - 1e-12):
        raise ConfigError(f"config keys 'skymap.spectrum_E_min_GeV' = {sk.spectrum_E_min_GeV:g}, "
                          f"'skymap.spectrum_E_max_GeV' = {sk.spectrum_E_max_GeV:g} (and 'skymap.E_gamma_GeV'): "
                          f"the scan needs maps from {need_lo:g} to {need_hi:g} GeV (1 TeV and the LHAASO-KM2A "
                          "points)")
    for model in cfg.scan.models:
        pipeline.check_study(model_config(cfg, model, cfg.scan.epsilon), {"solve", "fit", "skymap"})


def _jsonable(meta: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items()
            if isinstance(v, (int, float, str, bool, np.generic))}


def solve_model(st: Stages, cfg_m: Config, model: str, petsc_options: dict | None) -> dict[float, dict]:
    """Ring test (all ε, once) then one solve per ε of one model; returns each ε's solve record."""
    from ...result import CRDensity
    out_m, tag = Path(cfg_m.output_dir), model_tag(model)
    numdiff = st(f"numerical_diffusion/{tag}", pipeline.numdiff_key(cfg_m),
                 lambda: pipeline.numerical_diffusion_stage(cfg_m, out_m / "diagnostics"),
                 collective_stage=True).get("info", {})
    records = {}
    for e in cfg_m.diffusion.epsilon:
        path = out_m / "cr" / f"cr_eps_{eps_tag(e)}.h5"

        def _solve(e=e, path=path):
            p = pipeline.solve_one(cfg_m, e, path, petsc_options, numdiff=numdiff.get(eps_tag(e)))
            return [p], (_jsonable(CRDensity.load(p).meta) if mpi_rank_size()[0] == 0 else {})
        try:
            records[e] = st(f"solve/{tag}/eps_{eps_tag(e)}", pipeline.solve_key(cfg_m, e), _solve,
                            collective_stage=True)
        except POINT_ERRORS as exc:               # raised alike on every rank (collective stage)
            records[e] = {"error": exc}
    return records


#: what a failed (model, ε) point may raise without ending the scan: a solve that does not converge
#: (SolverDivergedError is a RuntimeError), a fit without a positive local density (ValueError), …
POINT_ERRORS = (ValueError, RuntimeError, ArithmeticError)


def failed_row(model: str, eps: float, exc: BaseException) -> dict:
    """The row of a (model, ε) point whose solve, fit or maps failed: the error instead of numbers."""
    from .rows import COLUMNS
    first = (str(exc).strip().splitlines() or ["(no message)"])[0]
    log.warning("scan: %s at ε = %g failed (%s: %s); the row stays empty and a rerun retries it",
                model, eps, type(exc).__name__, first)
    return {c: None for c in COLUMNS} | {"model": model, "epsilon": float(eps),
                                         "error": f"{type(exc).__name__}: {first}"}


def post_model(st: Stages, cfg_m: Config, model: str, solves: dict[float, dict], data: dict) -> dict[float, dict]:
    """Per ε of one model: the local fit, the sky maps (rescaled by the fit) and the scan row. ``scan.row_plots``
    off (default): the fit and map files without their PNGs (``fpgal run`` makes the same files plus PNGs).
    A point whose solve or post-processing failed gets :func:`failed_row` (not recorded: a rerun retries it)."""
    rows = {}
    for e in cfg_m.diffusion.epsilon:
        if "error" in solves[e]:
            rows[e] = failed_row(model, e, solves[e]["error"])
            continue
        try:
            rows[e] = post_point(st, cfg_m, model, e, solves[e], data)
        except POINT_ERRORS as exc:
            rows[e] = failed_row(model, e, exc)
    return rows


def post_point(st: Stages, cfg_m: Config, model: str, e: float, solve: dict, data: dict) -> dict:
    """Fit, sky maps and row of one (model, ε) (stages keyed like ``fpgal run``'s, plus the PNG switch)."""
    from .rows import scan_row
    out_m, tag = Path(cfg_m.output_dir), model_tag(model)
    cfg_e = dataclasses.replace(cfg_m, diffusion=dataclasses.replace(cfg_m.diffusion, epsilon=[e]))
    cr = out_m / "cr" / f"cr_eps_{eps_tag(e)}.h5"
    fit_dir = out_m / "fit" / f"eps_{eps_tag(e)}"
    png = cfg_m.scan.row_plots                            # the PNGs are part of what a stage makes
    fit = st(f"fit/{tag}/eps_{eps_tag(e)}", stage_key(pipeline.fit_key(cfg_e), f"plots={png}"),
             lambda: pipeline.fit_stage(cfg_e, {e: cr}, fit_dir, plots=png))
    fit_json = fit_dir / f"fit_eps_{eps_tag(e)}.json"
    key = pipeline.on_root(lambda: stage_key(pipeline.skymap_key(cfg_e, e, fit_json), f"plots={png}"))
    sky = st(f"skymap/{tag}/eps_{eps_tag(e)}", key, lambda: (
        pipeline.skymap_stage(cfg_e, cr, fit_json, out_m / "skymaps", f"eps_{eps_tag(e)}", plots=png), {}))
    maps_h5 = st.out / next(o for o in sky["outputs"] if o.endswith(".h5"))
    row_key = stage_key("scan_row", sky["key"], fit["key"], repr(E_REF_GeV), repr(cfg_e.scan.nuclei_factor),
                        repr(cfg_e.scan.nuclei_factor_free), cfg_e.data_dir, *pipeline._data_dir_parts(cfg_e))
    return st(f"row/{tag}/eps_{eps_tag(e)}", row_key, lambda: ([], scan_row(
        cfg_e, model, e, maps_h5, fit_json, {"solve": solve, "fit": fit, "skymap": sky}, data)))["info"]


@dataclass
class ScanResult:
    """What :func:`run_scan` made: the rows (model → ε → row dict), the output files and the stages that
    ran (empty when everything was current)."""

    rows: dict
    files: list
    computed: list

    @property
    def csv(self) -> Path:
        return self.files[0]


def run_scan(cfg: Config, petsc_options: dict | None = None, force: bool = False) -> ScanResult:
    """Run (or resume) the scan of ``cfg.scan.models`` × ``cfg.scan.epsilon`` and write ``scan.csv``,
    ``scan.md`` and the plots in ``cfg.output_dir`` (docs/scan.md)."""
    from ...emission.skydata import load_lhaaso_km2a
    from .report import write_outputs
    pipeline.collective(lambda: check_scan(cfg))
    st = Stages(Path(cfg.output_dir), force)
    st.start()
    data = pipeline.on_root(lambda: {w: load_lhaaso_km2a(w, cfg.data_dir or None) for w in ("inner", "outer")})
    rows = {}
    for i, model in enumerate(cfg.scan.models):
        log.info("scan: field model %s (%d of %d), %d ε", model, i + 1, len(cfg.scan.models), len(cfg.scan.epsilon))
        cfg_m = model_config(cfg, model, cfg.scan.epsilon)
        solves = solve_model(st, cfg_m, model, petsc_options)
        rows[model] = post_model(st, cfg_m, model, solves, data)
    files = pipeline.on_root(lambda: write_outputs(cfg, rows, st.out))
    return ScanResult(rows=rows, files=files, computed=list(st.computed))


def read_rows(out: Path) -> dict:
    """The rows recorded in a scan folder's manifest (model → ε → row), without running anything."""
    entries = json.loads((Path(out) / "stages.json").read_text())
    rows: dict = {}
    for name, e in entries.items():
        if name.startswith("row/"):
            r = e["info"]
            rows.setdefault(r["model"], {})[float(r["epsilon"])] = r
    return rows
