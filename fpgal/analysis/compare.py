"""Compare two CR densities on the same grid — typically the grid (PETSc) solution and the SDE one.

Per cell and energy: ratio r = n_other / n_ref and pull = (n_other − n_ref) / σ with
σ² = σ_ref² + σ_other² + (s_ref n_ref)² + (s_other n_other)² (the ``error`` arrays — the grid solution has
none, i.e. σ_ref = 0 — and the relative step-bias systematic s of an SDE result, :func:`step_systematic`:
half the 95 % bound ``step_bias_bound_rel`` of its Richardson pair, 0 for a Richardson-extrapolated
result, whose remaining bias is O(dτ²)).
χ²/dof = mean(pull²) over the *well-populated* cells — those where both densities are positive and the
combined relative error is below ``max_rel_error`` (sparsely visited cells have unreliable batch
errors; each result's own relative error must be below ``max_rel_error``). With B batches the pulls follow Student's t with B−1 dof, so χ²/dof ≈ (B−1)/(B−3) ≈ 1.03
for B = 64 when the two agree. Also: ratio maps (face-on slice nearest z = 0, edge-on slice nearest
y = 0) and the ratio of the local spectra (sphere around the Sun, or the grid centre if the Sun is off
the grid).

>>> rep = compare(CRDensity.load("grid.h5"), CRDensity.load("sde.h5"), "out/compare")
>>> rep.summary()["chi2_dof"]
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import units
from ..core.files import atomic_path
from ..core.log import get_logger
from ..result import CRDensity

log = get_logger(__name__)


NO_CELLS_NOTE = ("no well-populated cell: no cell has a positive density in both files and a combined error "
                 "estimate > 0 (at least one file must carry errors, e.g. an SDE result)")


def _json_numbers(values) -> list:
    """A float list with NaN/inf as None (strict JSON)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


def _cell(value: float, fmt: str) -> str:
    """``value`` formatted, or "—" (right-aligned to the width of ``fmt``) when it is not defined."""
    if np.isfinite(value):
        return format(value, fmt)
    width = int("".join(c for c in fmt.split(".")[0] if c.isdigit()) or 0)
    return "—".rjust(width)


@dataclass
class CompareReport:
    """Result of :func:`compare`; ``files`` lists what was written."""

    E_GeV: np.ndarray
    chi2_dof: np.ndarray              # (nE,) mean pull² over well-populated cells
    n_cells: np.ndarray               # (nE,) number of well-populated cells
    mean_pull: np.ndarray             # (nE,)
    max_abs_pull: np.ndarray          # (nE,)
    median_ratio: np.ndarray          # (nE,) median of n_other/n_ref over well-populated cells
    rms_rel_diff: np.ndarray          # (nE,) rms of (n_other/n_ref − 1) over well-populated cells
    local_center_kpc: tuple
    local_ref: np.ndarray             # (nE,) local spectra GeV⁻¹ cm⁻³
    local_other: np.ndarray
    local_other_err: np.ndarray       # (nE,) conservative (cells fully correlated)
    labels: tuple = ("grid", "sde")
    step: dict = field(default_factory=dict)   # label -> step-bias information of an SDE result
    files: list = field(default_factory=list)

    def summary(self) -> dict:
        """Plain numbers, strict JSON: a quantity that is not defined (no well-populated cell, a zero
        reference) is ``None`` (JSON null), never NaN; ``note`` says why when χ²/dof is undefined."""
        finite = np.isfinite(self.chi2_dof) & (self.n_cells > 0)
        total = (float(np.sum(self.chi2_dof[finite] * self.n_cells[finite]) / np.sum(self.n_cells[finite]))
                 if np.any(finite) else None)
        with np.errstate(divide="ignore", invalid="ignore"):
            local_ratio = self.local_other / np.where(self.local_ref != 0, self.local_ref, np.nan)
        out = {"labels": list(self.labels), "chi2_dof": total, "n_cells": int(np.sum(self.n_cells)),
               "E_GeV": self.E_GeV.tolist(), "chi2_dof_per_E": _json_numbers(self.chi2_dof),
               "mean_pull_per_E": _json_numbers(self.mean_pull), "max_abs_pull_per_E": _json_numbers(self.max_abs_pull),
               "median_ratio_per_E": _json_numbers(self.median_ratio),
               "rms_rel_diff_per_E": _json_numbers(self.rms_rel_diff),
               "local_center_kpc": list(self.local_center_kpc), "local_ratio_per_E": _json_numbers(local_ratio),
               "step_bias": {k: {kk: (vv if not isinstance(vv, float) or np.isfinite(vv) else None)
                                 for kk, vv in v.items()} for k, v in self.step.items()}}
        if total is None:
            out["note"] = NO_CELLS_NOTE
        return out

    def text(self) -> str:
        a, b = self.labels
        s = self.summary()
        overall = (f"overall chi2/dof = {s['chi2_dof']:.3f} over {s['n_cells']} well-populated cell-energies"
                   if s["chi2_dof"] is not None else f"overall chi2/dof: not defined ({NO_CELLS_NOTE})")
        lines = [f"fpgal comparison: {b} vs {a} (reference)", overall,
                 f"local spectra at {tuple(round(v, 3) for v in self.local_center_kpc)} kpc",
                 f"{'E [GeV]':>12} {'cells':>7} {'chi2/dof':>9} {'<pull>':>8} {'max|pull|':>9} {'med ratio':>9} "
                 f"{'rms rel':>8} {'local ratio':>12}"]
        for label, info in self.step.items():
            lines.insert(2, f"{label}: {info['note']}")
        for i, E in enumerate(self.E_GeV):
            lr = self.local_other[i] / self.local_ref[i] if self.local_ref[i] else float("nan")
            le = self.local_other_err[i] / self.local_ref[i] if self.local_ref[i] else float("nan")
            lines.append(f"{E:12.4g} {self.n_cells[i]:7d} {_cell(self.chi2_dof[i], '9.3f')} "
                         f"{_cell(self.mean_pull[i], '+8.3f')} {_cell(self.max_abs_pull[i], '9.2f')} "
                         f"{_cell(self.median_ratio[i], '9.4f')} {_cell(self.rms_rel_diff[i], '8.4f')} "
                         f"{_cell(lr, '7.4f')}±{_cell(le, '.4f')}")
        return "\n".join(lines) + "\n"


def step_systematic(cr: CRDensity) -> tuple[float, dict]:
    """(relative systematic s of the step bias in the error budget, description) of a CR density.

    An SDE result of a Richardson pair (``meta['richardson_pair']``): s = ``step_bias_bound_rel``/2 (the
    95 % bound of the fine run's relative step bias taken as 2σ); Richardson-extrapolated
    (``richardson_extrapolated``): s = 0, its remaining bias is O(dτ²); an SDE result without a pair:
    s = 0 and a note that its step bias is unknown; any other result (grid): s = 0, no note.
    """
    m = cr.meta
    if str(m.get("solver", "")) != "sde":
        return 0.0, {}
    step = float(m.get("rms_step_kpc", float("nan")))
    info = {"rms_step_kpc": step}
    if bool(m.get("richardson_extrapolated", False)):
        info.update(method="extrapolated", systematic_rel=0.0,
                    note=f"Richardson-extrapolated to zero step from rms steps {step:.4g} and "
                         f"{float(m.get('rms_step_coarse_kpc', float('nan'))):.4g} kpc (remaining bias O(dt^2))")
        return 0.0, info
    bound = float(m.get("step_bias_bound_rel", float("nan")))
    if bool(m.get("richardson_pair", False)) and np.isfinite(bound):
        s = 0.5 * bound
        info.update(method="bias-bounded", systematic_rel=s, step_bias_bound_rel=bound,
                    step_bias_rel_residence=float(m.get("step_bias_rel_residence", float("nan"))),
                    step_bias_rel_sun=float(m.get("step_bias_rel_sun", float("nan"))),
                    note=f"rms step {step:.4g} kpc, Richardson step-bias bound {100 * bound:.2g} % (95 %), in the "
                         f"error budget as a {100 * s:.2g} % (1 sigma) systematic")
        return s, info
    info.update(method="none", systematic_rel=0.0,
                note=f"rms step {step:.4g} kpc, step bias NOT estimated (run with richardson=True); pulls "
                     "contain statistics only")
    return 0.0, info


def pulls_and_mask(ref: CRDensity, other: CRDensity, max_rel_error: float = 0.1):
    """(pull, ratio, mask) arrays of shape (nE, nx, ny, nz); mask = well-populated cells."""
    if not ref.grid.same_space(other.grid) or ref.grid.n_E != other.grid.n_E or \
            not np.allclose(ref.E_GeV, other.E_GeV, rtol=1e-10):
        raise ValueError(f"compare: the two densities live on different grids: {ref.grid!r} vs {other.grid!r}")
    e_ref = ref.error if ref.error is not None else np.zeros_like(ref.density)
    e_oth = other.error if other.error is not None else np.zeros_like(other.density)
    n_a, n_b = ref.density, other.density
    s_ref, s_oth = step_systematic(ref)[0], step_systematic(other)[0]
    sigma = np.sqrt(e_ref ** 2 + e_oth ** 2 + (s_ref * n_a) ** 2 + (s_oth * n_b) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(n_a > 0, n_b / n_a, np.nan)
        pull = np.where(sigma > 0, (n_b - n_a) / sigma, np.nan)
        # each result's own relative error: a cell seen by a handful of particles has an unreliable error
        rel = np.maximum(np.where(e_ref > 0, e_ref / np.abs(n_a), 0.0), np.where(e_oth > 0, e_oth / np.abs(n_b), 0.0))
    mask = (n_a > 0) & (n_b > 0) & (sigma > 0) & (rel < max_rel_error)
    return pull, ratio, mask


def compare(grid_cr: CRDensity, sde_cr: CRDensity, out_dir, *, max_rel_error: float = 0.1,
            map_energy_index: int | None = None, center_kpc=units.sun_position_kpc, radius_kpc: float = 0.5,
            labels: tuple[str, str] = ("grid", "sde"), plots: bool = True) -> CompareReport:
    """Compare ``sde_cr`` against the reference ``grid_cr``; write ``compare_report.txt``,
    ``compare_summary.json`` and PNGs (ratio maps, pull histogram, local spectra) into ``out_dir``.

    Parameters
    ----------
    max_rel_error : cells count as well populated when the combined 1σ error is below this fraction
    map_energy_index : energy of the ratio maps (default: the middle of the energy axis)
    center_kpc, radius_kpc : sphere of the local spectra (default the Sun; the grid centre if off-grid)
    """
    if not (0 < max_rel_error):
        raise ValueError(f"compare: max_rel_error={max_rel_error!r} must be positive")
    pull, ratio, mask = pulls_and_mask(grid_cr, sde_cr, max_rel_error)
    chi2, n_cells, mean_pull, max_pull, med_ratio, rms_rel = _per_energy_stats(pull, ratio, mask)
    g = grid_cr.grid
    c, loc_a, loc_b, loc_be = _local_spectra(grid_cr, sde_cr, center_kpc, radius_kpc)
    step = {lab: info for lab, info in zip(labels, (step_systematic(grid_cr)[1], step_systematic(sde_cr)[1]))
            if info}
    for lab, info in step.items():
        if info.get("method") == "none":
            log.warning("compare: %s: %s", lab, info["note"])
    report = CompareReport(g.E_GeV.copy(), chi2, n_cells, mean_pull, max_pull, med_ratio, rms_rel,
                           tuple(c.tolist()), loc_a, loc_b, loc_be, tuple(labels), step)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    txt = out / "compare_report.txt"
    with atomic_path(txt) as tmp:
        tmp.write_text(report.text())
    js = out / "compare_summary.json"
    with atomic_path(js) as tmp:
        tmp.write_text(json.dumps(report.summary(), indent=1, allow_nan=False))
    report.files += [txt, js]
    if plots:
        report.files += _plot_report(g, pull, ratio, mask, report, out, map_energy_index, radius_kpc)
    chi2_total = report.summary()["chi2_dof"]
    if chi2_total is None:
        log.warning("compare %s vs %s: chi2/dof not defined: %s", labels[1], labels[0], NO_CELLS_NOTE)
    else:
        log.info("compare %s vs %s: chi2/dof = %.3f over %d cells", labels[1], labels[0], chi2_total,
                 int(n_cells.sum()))
    return report


def _per_energy_stats(pull: np.ndarray, ratio: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per energy over the well-populated cells (``mask``): χ²/dof = mean(pull²), the cell count, mean pull,
    max |pull|, median ratio and rms of (ratio − 1); NaN at an energy without such cells."""
    nE = len(mask)
    chi2, mean_pull, max_pull, med_ratio, rms_rel = (np.full(nE, np.nan) for _ in range(5))
    n_cells = mask.reshape(nE, -1).sum(axis=1)
    for i in range(nE):
        m = mask[i]
        if m.any():
            p = pull[i][m]
            chi2[i] = float(np.mean(p ** 2))
            mean_pull[i] = float(np.mean(p))
            max_pull[i] = float(np.max(np.abs(p)))
            med_ratio[i] = float(np.median(ratio[i][m]))
            rms_rel[i] = float(np.sqrt(np.mean((ratio[i][m] - 1.0) ** 2)))
    return chi2, n_cells, mean_pull, max_pull, med_ratio, rms_rel


def _local_spectra(grid_cr: CRDensity, sde_cr: CRDensity, center_kpc, radius_kpc: float):
    """(centre (3,) kpc, reference, other, other's 1σ) local spectra in the sphere of ``radius_kpc``
    around ``center_kpc`` (the grid centre when that lies off the grid); σ = 0 without errors."""
    g = grid_cr.grid
    c = np.asarray(center_kpc, dtype=float)
    if not g.contains(c[None])[0]:
        c = 0.5 * (g.lower_kpc + g.upper_kpc)
    loc_a = grid_cr.local_spectrum(c, radius_kpc)
    loc_b = sde_cr.local_spectrum(c, radius_kpc)
    loc_be = (CRDensity(g, sde_cr.error).local_spectrum(c, radius_kpc) if sde_cr.error is not None
              else np.zeros(g.n_E))
    return c, loc_a, loc_b, loc_be


def _plot_report(g, pull: np.ndarray, ratio: np.ndarray, mask: np.ndarray, report: CompareReport, out: Path,
                 map_energy_index: int | None, radius_kpc: float) -> list[Path]:
    """The report's figures: ratio maps at one energy (default the middle one), pull histogram, local
    spectra; ValueError naming ``map_energy_index`` when it is outside the energy axis."""
    from ..plots.compare import plot_local_ratio, plot_pull_histogram, plot_ratio_maps
    nE, labels = g.n_E, report.labels
    iE = nE // 2 if map_energy_index is None else int(map_energy_index)
    if not 0 <= iE < nE:
        raise ValueError(f"compare: map_energy_index={map_energy_index} outside 0..{nE - 1}")
    return [plot_ratio_maps(g, ratio[iE], mask[iE], float(g.E_GeV[iE]), out / "compare_ratio_maps.png", labels),
            plot_pull_histogram(pull, mask, out / "compare_pulls.png", labels),
            plot_local_ratio(g.E_GeV, report.local_ref, report.local_other, report.local_other_err,
                             out / "compare_local_spectra.png", labels, report.local_center_kpc, radius_kpc)]
