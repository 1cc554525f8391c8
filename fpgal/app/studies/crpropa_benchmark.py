"""`fpgal benchmark crpropa`: the CRPropa-replica problem of issue 13, in CRPropa's own units.

Problem (``examples/crpropa_benchmark.toml``): UF23 base field, 1 TeV protons, CRPropa's
D∥ = 6.1e24 m²/s (R/4 GV)^(1/3) = 3.8428e29 cm²/s (:class:`fpgal.diffusion.CRPropaLaw`), D⊥ = ε D∥
(ε = 0.1), sources of CRPropa's ``SourcePulsarDistribution`` (:mod:`.crpropa_source`, a seeded
high-count histogram of the exact sampling law), absorbing cylinder R = 20 kpc, |z| = 4 kpc, total
injection 1 particle/s of which the part born outside the cylinder escapes at once (no renormalisation).

Output: the steady particle number per cell for that injection, N_c = ∫_c n dV, which equals the
seconds per cell per injected particle of a CRPropa residence-time histogram,
``residence_s_per_cell.npy`` (80, 80, 16) on 0.5 kpc cells (x, y edges −20…20, z edges −4…4 kpc, C
order [ix, iy, iz]); the mean residence time T = Σ_c N_c / (1 s⁻¹); the density at the Sun, N in the
100 pc sphere / its volume [s kpc⁻³]; the 1-kpc cube of the 8 histogram cells around the Sun.

Methods: ``grid`` — the factorized PETSc solve of −∇·(D∇n) = Q on a mesh of spacing ``mesh_kpc``,
its cell contents rebinned onto the histogram by exact volume overlap; ``ito`` / ``crpropa`` — the
SDE (:func:`fpgal.sde.steady_state`, residence estimator) tallied directly on the histogram cells,
with the SDE's batch errors and its step-bias report (Richardson pair).
On 0.5 kpc cells the SDE cannot resolve the 100 pc sphere: its ``sun_sphere_s_kpc3`` is the cube.
"""
from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import builders
from ...core import units
from ..config import Config, ConfigError, load_config
from ...core.grid import Grid
from .crpropa_source import CRPropaPulsarSamples, rebin_content

HIST_EDGES_KPC = (np.linspace(-20.0, 20.0, 81), np.linspace(-20.0, 20.0, 81), np.linspace(-4.0, 4.0, 17))
HIST_SHAPE = (80, 80, 16)
METHODS = ("grid", "ito", "crpropa")
SOURCE_NAME = "crpropa-pulsar"
SUN_SPHERE_KPC = 0.1
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "examples" / "crpropa_benchmark.toml"
KPC3_CM3 = units.kpc_cm ** 3


@dataclass(frozen=True)
class Problem:
    """The benchmark's physics objects, built from a config (:func:`build_problem`)."""
    cfg: Config
    tensor: object
    source: CRPropaPulsarSamples
    boundary: object
    epsilon: float
    E_GeV: float
    sun_kpc: tuple


def unit_injection(E_GeV: float) -> float:
    """Q(x) = q(x)/kpc³ with ∫q dV_kpc³ = 1: the spectrum that makes the total injection 1 particle/s."""
    return 1.0 / KPC3_CM3


def build_problem(config: str | Path | None = None, epsilon: float | None = None) -> Problem:
    """Field-aligned tensor (CRPropa D∥ law), sampled CRPropa source, cylinder and energy from the config."""
    path = Path(config) if config is not None else DEFAULT_CONFIG
    cfg = load_config(path)
    if cfg.source.distribution != SOURCE_NAME:
        raise ConfigError(f"config key 'source.distribution' = {cfg.source.distribution!r}: the CRPropa benchmark "
                          f"needs {SOURCE_NAME!r} (CRPropa's SourcePulsarDistribution, sampled)")
    if cfg.boundary.type != "cylinder":
        raise ConfigError(f"config key 'boundary.type' = {cfg.boundary.type!r}: the benchmark needs 'cylinder'")
    try:
        source = CRPropaPulsarSamples(R_kpc=cfg.boundary.R_kpc, H_kpc=cfg.boundary.H_kpc, **cfg.source.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key 'source.params' = {cfg.source.params!r}: {exc}") from None
    eps = float(cfg.diffusion.epsilon[0] if epsilon is None else epsilon)
    E = float(builders.build_grid(cfg).E_GeV[0])
    return Problem(cfg, builders.build_tensor(cfg, eps), source, builders.build_boundary(cfg), eps, E, cfg.sun_kpc)


def mesh_grid(problem: Problem, mesh_kpc: float | None) -> Grid:
    """The grid method's mesh: the config's mesh, or the cylinder's box at spacing ≈ ``mesh_kpc``."""
    if mesh_kpc is None:
        g = builders.build_grid(problem.cfg)
        return g.with_energies(np.array([problem.E_GeV]))
    if not (np.isfinite(mesh_kpc) and 0 < mesh_kpc <= 2.0):
        raise ValueError(f"mesh_kpc={mesh_kpc!r}: expected a spacing in (0, 2] kpc")
    R, H = problem.boundary.R_kpc, problem.boundary.H_kpc
    n_xy, n_z = max(int(round(2 * R / mesh_kpc)), 2), max(int(round(2 * H / mesh_kpc)), 2)
    return Grid((-R, R, n_xy), (-R, R, n_xy), (-H, H, n_z), np.array([problem.E_GeV]), name=f"box-{mesh_kpc:g}kpc")


def histogram_grid(E_GeV: float) -> Grid:
    """The 80×80×16 benchmark cells as a Grid (the SDE tallies on it)."""
    lo_hi = [(e[0], e[-1], len(e) - 1) for e in HIST_EDGES_KPC]
    return Grid(*lo_hi, np.array([float(E_GeV)]), name="crpropa-histogram-0.5kpc")


def sun_cube_s_kpc3(hist: np.ndarray, sun_kpc=units.sun_position_kpc, side_kpc: float = 1.0) -> float:
    """Mean of a histogram (s per cell) over the cube of side ``side_kpc`` around the Sun, s kpc⁻³."""
    w = [np.clip(np.minimum(e[1:], c + side_kpc / 2) - np.maximum(e[:-1], c - side_kpc / 2), 0, None) / np.diff(e)
         for e, c in zip(HIST_EDGES_KPC, sun_kpc)]
    return float(np.einsum("ijk,i,j,k->", hist, *w) / side_kpc ** 3)


def run_grid(problem: Problem, mesh_kpc: float | None = None, comm=None) -> tuple[np.ndarray, dict]:
    """Grid method: (histogram s/cell, summary entries). Equation: −∇·(D∇n) = q(x)·1 s⁻¹, n = 0 on the cylinder."""
    from ...transport import solve_steady
    grid = mesh_grid(problem, mesh_kpc)
    cr = solve_steady(grid, problem.tensor, problem.source, unit_injection, boundary=problem.boundary, comm=comm)
    content = np.asarray(cr.density[0]) * grid.cell_volume_cm3            # particles per mesh cell
    hist = rebin_content(content, tuple(grid.edges_kpc(a) for a in range(3)), HIST_EDGES_KPC)
    sphere = float(cr.local_spectrum(problem.sun_kpc, SUN_SPHERE_KPC)[0]) * KPC3_CM3
    return hist, dict(mesh_kpc=[float(v) for v in grid.spacing_kpc], mesh_shape=list(grid.shape),
                      sun_sphere_s_kpc3=sphere, sun_sphere_estimator="100 pc sphere on the solver mesh",
                      iterations=cr.meta.get("iterations"), solve_time_s=cr.meta.get("solve_time_s"))


#: CRPropa 3 DiffusionSDE on this problem (UF23 base, 1 TeV, 1 kpc/c steps): particle steps per CPU-second
#: measured in issue 17 (C++, direct field evaluations, 12 per step)
CRPROPA_STEPS_PER_CPU_S = 2.2e5

#: default node spacing of the SDE's lookup table on this problem [kpc] (UF23's gradient length is 0.57 kpc)
LOOKUP_KPC = 0.1

#: steps after which the SDE gives a particle up (1e7 × the default 0.056 kpc rms step ≈ 12 Gyr at 1 TeV:
#: at ε = 0.01 1 % of the particles were still inside after 1e6 steps)
MAX_STEPS = 10_000_000


def run_sde(problem: Problem, mode: str, n_particles: int, seed: int, step_kpc: float | None = None,
            lookup_kpc: float | None = None, kernel: str = "auto") -> tuple[np.ndarray, np.ndarray, dict]:
    """SDE method: (histogram s/cell, its 1σ per cell, summary entries) from one
    :func:`fpgal.sde.steady_state` call tallied on the histogram cells (chunks spread over MPI ranks).

    Errors: the mean residence time takes the SDE's own batch error of the mean exit time
    (``meta['mean_residence_Myr_err']``, relative); the Sun cube the linear sum of its 8 cells' 1σ / 8, an
    upper bound whatever their correlation. The SDE's step-bias report (Richardson pair dτ / 2dτ, when
    it gives one) is passed on with the prefix ``sde_``. ``lookup_kpc``: node spacing of the tensor's
    lookup table (None: ``sde.lookup_kpc`` of the config, else :data:`LOOKUP_KPC`; 0: no table, the
    field is evaluated at every step by the numpy engine).
    """
    from ...sde import steady_state
    grid = histogram_grid(problem.E_GeV)
    if lookup_kpc is None:
        lookup_kpc = (problem.cfg.sde.lookup_kpc if problem.cfg is not None else 0.0) or LOOKUP_KPC
    cr = steady_state(grid, problem.tensor, problem.source, unit_injection, int(n_particles), seed=int(seed),
                      boundary=problem.boundary, mode=mode, step_kpc=step_kpc, E_ref_GeV=problem.E_GeV,
                      lookup_spacing_kpc=lookup_kpc or None, kernel=kernel if lookup_kpc else "numpy",
                      max_steps=MAX_STEPS)
    hist = np.asarray(cr.density[0]) * grid.cell_volume_cm3
    err = np.asarray(cr.error[0]) * grid.cell_volume_cm3
    m = cr.meta
    total_Myr = float(hist.sum() / units.Myr_s)
    rel = m.get("mean_residence_Myr_err", np.nan) / m.get("mean_residence_Myr", np.nan)
    cube = sun_cube_s_kpc3(hist, problem.sun_kpc)
    cube_err = sun_cube_s_kpc3(err, problem.sun_kpc)       # Σ σ_i / 8: perfectly correlated cells
    sim_cpu = float(m.get("simulation_cpu_s", 0.0))
    info = dict(n_particles=int(n_particles), seed=int(seed), steps=int(m.get("particle_steps", 0)), mode=mode,
                kernel=m.get("kernel"), lookup_kpc=float(lookup_kpc or 0.0), simulation_cpu_s=sim_cpu,
                steps_per_cpu_s=int(m.get("particle_steps", 0)) / sim_cpu if sim_cpu > 0 else float("nan"),
                crpropa_steps_per_cpu_s=CRPROPA_STEPS_PER_CPU_S,
                rms_step_kpc=m.get("rms_step_kpc"), dt_s_at_E_ref=m.get("dt_s_at_E_ref"),
                fraction_not_absorbed=float(m.get("fraction_not_absorbed", 0.0)),
                mean_residence_err_Myr=float(rel * total_Myr), sun_cube_1kpc_err_s_kpc3=cube_err,
                sun_sphere_s_kpc3=cube, sun_sphere_err_s_kpc3=cube_err,
                sun_sphere_estimator="1-kpc cube (the 8 histogram cells around the Sun; 0.5 kpc tally cells)")
    per_injected = total_Myr / m.get("mean_residence_Myr", np.nan)   # the SDE counts particles born inside
    for key in ("residence_extrapolated", "residence_extrapolated_err"):
        if key in m:
            info[f"sde_{key}_Myr"] = float(m[key]) * per_injected
    for key in ("step_bias_rel_residence",
                "step_bias_rel_residence_err", "step_bias_rel_sun", "step_bias_rel_sun_err", "step_bias_bound_rel",
                "rms_step_coarse_kpc", "step_choice_limited_by", "step_choice_gradient_length_kpc", "wall_time_fine_s"):
        if key in m:
            info[f"sde_{key}"] = m[key]
    return hist, err, info


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------ comparison
def load_histogram(path: str | Path, what: str = "--compare") -> np.ndarray:
    """A (80, 80, 16) histogram in s per cell per injected particle from a .npy file, checked."""
    from ..pipeline import InputFileError
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{what} file {str(path)!r}: " + ("is a folder" if p.is_dir() else "no such file"))
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{what} file {str(path)!r} is not a .npy array: {exc}") from None
    if arr.shape != HIST_SHAPE:
        raise InputFileError(f"{what} file {str(path)!r} has shape {arr.shape}; expected {HIST_SHAPE} (0.5 kpc "
                             "cells, x/y edges -20..20 kpc, z edges -4..4 kpc, C order [ix, iy, iz])")
    arr = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputFileError(f"{what} file {str(path)!r}: expected finite non-negative seconds per cell")
    return arr


def compare_histograms(ours: np.ndarray, ref: np.ndarray, ours_err: np.ndarray | None = None,
                       ref_err: np.ndarray | None = None, ref_particles: int = 30000,
                       sun_kpc=units.sun_position_kpc, min_count: float = 10.0) -> dict:
    """Compare a benchmark histogram with a reference one (CRPropa's), both in s per cell per particle.

    Per-cell ratio ours/ref on the cells with ref > 0 (percentiles). χ² of the z-summed columns
    C = Σ_z N: χ² = Σ (C_ours − C_ref)² / (σ_ref² + σ_ours²) over the columns used, dof = their number.
    σ_ref: from ``ref_err`` (per-cell 1σ, cells independent) or, without it, Poisson-like: the column
    holds n_c = N_ref C_ref / ΣN_ref independent particle counts (N_ref = ``ref_particles``), so
    σ_ref = C_ref/√n_c; only columns with n_c ≥ ``min_count`` are used. σ_ours: ``ours_err`` (cells
    independent) or 0. Columns with σ_ref² + σ_ours² = 0 are left out. Also the ratios of the mean residence times (ΣN) and of the Sun 1-kpc cubes.
    """
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    cells = ref > 0
    ratio = ours[cells] / ref[cells]
    p5, p16, p50, p84, p95 = np.percentile(ratio, [5, 16, 50, 84, 95]) if ratio.size else [np.nan] * 5
    col_o, col_r = ours.sum(axis=2), ref.sum(axis=2)
    if ref_err is not None:
        var_r, use = (np.asarray(ref_err, dtype=float) ** 2).sum(axis=2), col_r > 0
        model = "per-cell errors from --compare-error (cells independent)"
    else:
        n_c = ref_particles * col_r / max(ref.sum(), 1e-300)
        var_r, use = col_r ** 2 / np.maximum(n_c, 1e-300), n_c >= min_count
        model = f"Poisson-like, N_ref = {ref_particles} particles, columns with n_c >= {min_count:g}"
    var_o = 0.0 if ours_err is None else (np.asarray(ours_err, dtype=float) ** 2).sum(axis=2)
    var_all = var_r + var_o
    use = use & (var_all > 0)                     # a column without any error estimate cannot enter χ²
    var = var_all[use]
    chi2 = float(np.sum((col_o[use] - col_r[use]) ** 2 / var)) if use.any() else float("nan")
    dof = int(use.sum())
    return dict(cells_compared=int(cells.sum()),
                cell_ratio_percentiles={"p5": p5, "p16": p16, "p50": p50, "p84": p84, "p95": p95},
                chi2_columns=chi2, dof_columns=dof, chi2_per_dof_columns=chi2 / dof if dof else float("nan"),
                column_error_model=model, residence_ratio=float(ours.sum() / ref.sum()),
                sun_cube_1kpc_ratio=sun_cube_s_kpc3(ours, sun_kpc) / sun_cube_s_kpc3(ref, sun_kpc))


def comparison_lines(c: dict) -> list[str]:
    p = c["cell_ratio_percentiles"]
    return [f"comparison with the reference histogram ({c['cells_compared']} cells with reference > 0):",
            f"  per-cell ratio ours/ref: median {p['p50']:.3f}, 16-84 % {p['p16']:.3f}-{p['p84']:.3f}, "
            f"5-95 % {p['p5']:.3f}-{p['p95']:.3f}",
            f"  z-summed columns: chi2/dof = {c['chi2_columns']:.1f}/{c['dof_columns']} = "
            f"{c['chi2_per_dof_columns']:.2f} ({c['column_error_model']})",
            f"  mean residence ratio {c['residence_ratio']:.4f}, Sun 1-kpc cube ratio {c['sun_cube_1kpc_ratio']:.4f}"]


# ------------------------------------------------------------------------------------------ command
def run_benchmark(method: str, out: str | Path, *, config: str | Path | None = None, mesh_kpc: float | None = None,
                  n_particles: int | None = None, seed: int | None = None, step_kpc: float | None = None,
                  lookup_kpc: float | None = None, kernel: str = "auto", epsilon: float | None = None, compare: str | Path | None = None,
                  compare_error: str | Path | None = None, compare_particles: int = 30000) -> list[str]:
    """Run one method, write ``out``/residence_s_per_cell.npy and ``out``/summary.json; return report lines."""
    from ...core.mpi import on_root, world
    if method not in METHODS:
        raise ValueError(f"benchmark method {method!r}: expected one of {METHODS}")
    ref = load_histogram(compare) if compare else None
    ref_err = load_histogram(compare_error, "--compare-error") if compare_error else None
    if ref_err is not None and ref is None:
        raise ValueError("--compare-error needs --compare (the reference histogram it belongs to)")
    problem = build_problem(config, epsilon)
    t0, cpu0 = time.perf_counter(), _cpu_s()
    err = None
    if method == "grid":
        hist, info = run_grid(problem, mesh_kpc)
    else:
        n = int(n_particles or problem.cfg.sde.n_particles)
        hist, err, info = run_sde(problem, method, n, problem.cfg.sde.seed if seed is None else int(seed), step_kpc,
                                  lookup_kpc, kernel)
    summary = _summary(problem, method, hist, info, time.perf_counter() - t0, _cpu_s() - cpu0)
    lines = summary_lines(summary)
    if ref is not None:
        summary["comparison"] = compare_histograms(hist, ref, err, ref_err, compare_particles, problem.sun_kpc)
        summary["comparison"]["reference_file"] = str(compare)
        lines += comparison_lines(summary["comparison"])
    on_root(lambda: write_outputs(Path(out), hist, summary, err), world())
    return lines + [f"wrote {Path(out) / 'residence_s_per_cell.npy'} and {Path(out) / 'summary.json'}"]


def _summary(problem: Problem, method: str, hist: np.ndarray, info: dict, wall_s: float, cpu_s: float) -> dict:
    from ...core.mpi import world
    comm = world()
    if comm is not None:
        cpu_s = float(comm.allreduce(cpu_s))
    src = problem.source
    s = dict(method=method, mean_residence_Myr=float(hist.sum() / units.Myr_s),
             sun_cube_1kpc_s_kpc3=sun_cube_s_kpc3(hist, problem.sun_kpc), wall_s=wall_s, cpu_s=cpu_s,
             epsilon=problem.epsilon, E_GeV=problem.E_GeV, D_par_cm2_s=problem.tensor.energy_factor(problem.E_GeV),
             source=repr(src), source_fraction_in_cylinder=float(src.counts(HIST_EDGES_KPC).sum() / src.n_samples),
             boundary=repr(problem.boundary), sun_kpc=list(problem.sun_kpc), mpi_ranks=1 if comm is None else comm.size,
             units="residence_s_per_cell.npy: seconds per 0.5 kpc cell per injected particle (total injection 1/s)")
    s.update(info)
    return s


def summary_lines(s: dict) -> list[str]:
    def pm(key):
        e = s.get(key.replace("_Myr", "_err_Myr").replace("_s_kpc3", "_err_s_kpc3"))
        return f"{s[key]:.4g}" + (f" ± {e:.2g}" if e is not None else "")
    head = f"CRPropa benchmark, method {s['method']}, ε = {s['epsilon']:g}, D∥ = {s['D_par_cm2_s']:.5g} cm²/s"
    lines = [head, f"  mean residence time {pm('mean_residence_Myr')} Myr",
             f"  Sun 100 pc sphere {pm('sun_sphere_s_kpc3')} s kpc^-3 per particle ({s['sun_sphere_estimator']})",
             f"  Sun 1-kpc cube {pm('sun_cube_1kpc_s_kpc3')} s kpc^-3 per particle",
             f"  wall {s['wall_s']:.1f} s, cpu {s['cpu_s']:.1f} s" + (f", {s['steps']} particle steps, rms step "
                                                                    f"{s['rms_step_kpc']:.3g} kpc" if 'steps' in s else "")]
    if "steps_per_cpu_s" in s:
        lines.append(f"  {s['steps_per_cpu_s']:.3g} particle steps per CPU-second in the particle loop ({s['kernel']} "
                     f"kernel, lookup table {s['lookup_kpc']:g} kpc; CRPropa 3: {s['crpropa_steps_per_cpu_s']:.2g})")
    return lines


def write_outputs(out: Path, hist: np.ndarray, summary: dict, err: np.ndarray | None = None) -> None:
    """Write the histogram (float64, C order), for the SDE its 1σ per cell, and the summary, atomically."""
    from ...core.files import atomic_path
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"residence_s_per_cell.npy": hist}
    if err is not None:
        arrays["residence_err_s_per_cell.npy"] = err
    for name, arr in arrays.items():
        with atomic_path(out / name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr, dtype=np.float64))
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
