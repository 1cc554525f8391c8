"""Statistics of the scan: χ² of predicted diffuse γ spectra against LHAASO-KM2A, the nuclei factor, and
the preferred ε with its Δχ² = 1 interval.

χ² of one window (inner 15° < l < 125° or outer 125° < l < 235°, |b| ≤ 5°; Cao et al., PRL 131, 151001
(2023), Tables S2/S3) with a factor ``f`` on the prediction:

    χ²_w(f) = Σ_i (f m_i − d_i)² / σ_i²,   σ_i = ½ (σ_i,lo + σ_i,hi),  σ_i,lo/hi = stat_lo/hi ⊕ sys,

where m_i is the window-mean model intensity interpolated log-log to the data energy E_i (the same
interpolation as :func:`fpgal.emission.products.maps_at`). ``f`` is the nuclei factor: fixed (config
``scan.nuclei_factor``), or free, at its analytic minimum over both windows together,

    f̂ = Σ_i d_i m_i / σ_i²  /  Σ_i m_i² / σ_i²      (dχ²/df = 0, sums over inner and outer points).

The systematic errors are treated as independent between points (they are not: see docs/scan.md).
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

WINDOWS = ("inner", "outer")


def window_prediction(E_GeV: np.ndarray, I_window: np.ndarray, E_data_GeV: np.ndarray) -> np.ndarray:
    """A window-mean spectrum I(E) [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] at the data energies (log-log interpolation,
    :func:`fpgal.emission.products.maps_at`); data outside the model energies raise ValueError."""
    from ...emission.products import maps_at
    return maps_at(np.asarray(I_window, dtype=float)[:, None], E_GeV, E_data_GeV)[:, 0]


def sigma(points) -> np.ndarray:
    """Symmetrised 1σ error ½ (σ_lo + σ_hi) of :class:`fpgal.emission.skydata.GammaPoints` (stat ⊕ sys per side)."""
    return 0.5 * (np.asarray(points.I_lo, dtype=float) + np.asarray(points.I_hi, dtype=float))


def best_nuclei_factor(pred: Mapping[str, np.ndarray], data: Mapping) -> float:
    """Analytic least-squares factor f̂ = Σ d m/σ² / Σ m²/σ² over every window in ``pred``."""
    num = sum(float(np.sum(data[w].I * pred[w] / sigma(data[w]) ** 2)) for w in pred)
    den = sum(float(np.sum(pred[w] ** 2 / sigma(data[w]) ** 2)) for w in pred)
    if not den > 0:
        raise ValueError(f"best_nuclei_factor: the predicted spectra are zero in every window ({dict(pred)})")
    return num / den


def chi2_windows(pred: Mapping[str, np.ndarray], data: Mapping, factor: float) -> dict[str, float]:
    """χ²_w(f) = Σ (f m − d)²/σ² per window (``pred[w]`` at the data energies of ``data[w]``)."""
    return {w: float(np.sum(((factor * pred[w] - data[w].I) / sigma(data[w])) ** 2)) for w in pred}


def lhaaso_chi2(E_GeV: np.ndarray, I_windows: Mapping[str, np.ndarray], data: Mapping, nuclei_factor: float,
                free: bool) -> dict:
    """χ² of the window-mean model spectra ``I_windows`` ({'inner', 'outer'} → I(E) on ``E_GeV``) against
    ``data`` ({'inner', 'outer'} → GammaPoints). Returns χ² per window, the points per window and the
    factor used (``free``: :func:`best_nuclei_factor`, else ``nuclei_factor``)."""
    pred = {w: window_prediction(E_GeV, I_windows[w], data[w].E_GeV) for w in WINDOWS}
    f = best_nuclei_factor(pred, data) if free else float(nuclei_factor)
    chi2 = chi2_windows(pred, data, f)
    return {"chi2_lhaaso_inner": chi2["inner"], "chi2_lhaaso_outer": chi2["outer"],
            "n_lhaaso_inner": int(data["inner"].E_GeV.size), "n_lhaaso_outer": int(data["outer"].E_GeV.size),
            "nuclei_factor": f, "nuclei_factor_mode": "free" if free else "fixed"}


def preferred_epsilon(eps: np.ndarray, chi2: np.ndarray) -> dict:
    """Minimum of χ²(ε) and its Δχ² = 1 interval, interpolated in x = log₁₀ ε.

    Around the smallest χ² of the grid, the parabola through it and its two neighbours (exact for a χ²
    parabolic in log ε; a spline through a steep wall overshoots below every grid value):
    x̂ = −b/2a, χ²_min = χ²(x̂), interval x̂ ± 1/√a. At the end of the scanned range (or where the parabola
    does not open upwards) the grid minimum itself, and the crossing of χ²_min + 1 by linear interpolation
    between grid points. Returns ``best``, ``lo``, ``hi`` (ε), ``chi2_min`` and ``lo_at_edge``/``hi_at_edge``:
    True when the interval reaches the end of the scanned range (the data set only a bound on that side);
    ``resolved``: False when the parabola's minimum lies more than 1 below the grid's smallest χ² (the ε grid
    is too coarse there to trust the interpolation: add ε around ``best``).
    """
    eps, chi2 = np.asarray(eps, dtype=float), np.asarray(chi2, dtype=float)
    order = np.argsort(eps)
    x, y = np.log10(eps[order]), chi2[order]
    i = int(np.argmin(y))
    if 0 < i < x.size - 1:
        a, b, c = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
        if a > 0:
            xm = -b / (2 * a)
            lo, hi = xm - 1 / math.sqrt(a), xm + 1 / math.sqrt(a)
            chi2_min = float(c - b * b / (4 * a))
            return {"best": float(10 ** xm), "chi2_min": chi2_min,
                    "lo": float(10 ** max(lo, x[0])), "hi": float(10 ** min(hi, x[-1])),
                    "lo_at_edge": bool(lo <= x[0]), "hi_at_edge": bool(hi >= x[-1]),
                    "resolved": bool(y[i] - chi2_min <= 1.0)}
    level = y[i] + 1.0
    lo_j, hi_j = i, i
    while lo_j > 0 and y[lo_j - 1] <= level:
        lo_j -= 1
    while hi_j < x.size - 1 and y[hi_j + 1] <= level:
        hi_j += 1
    return {"best": float(10 ** x[i]), "chi2_min": float(y[i]),
            "lo": float(10 ** _crossing(x, y, lo_j, -1, level)), "hi": float(10 ** _crossing(x, y, hi_j, +1, level)),
            "lo_at_edge": lo_j == 0, "hi_at_edge": hi_j == x.size - 1, "resolved": True}


def _crossing(x: np.ndarray, y: np.ndarray, j: int, step: int, level: float) -> float:
    """Where y crosses ``level`` between x[j] (inside) and x[j + step] (outside); x[j] at the edge."""
    k = j + step
    if k < 0 or k >= x.size:
        return float(x[j])
    return float(x[j] + (level - y[j]) * (x[k] - x[j]) / (y[k] - y[j]))
