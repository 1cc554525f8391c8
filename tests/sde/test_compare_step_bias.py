"""fpgal compare puts an SDE result's Richardson step-bias bound into the error budget.

Synthetic pair: the "SDE" density is the reference × (1 + b) plus noise of relative size r. Without a
step-bias estimate the pulls have E[pull²] = 1 + (b/r)²; with the pair's bound B = 2b
(``step_bias_bound_rel``, taken as a 2σ systematic s = B/2 = b, applied to the SDE's own density
n(1 + b + rξ)) E[pull²] = E[(b + rξ)² / (r² + s²(1 + b + rξ)²)] ≈ 0.94.
"""
from __future__ import annotations

import numpy as np
import pytest

import fpgal
from fpgal.analysis.compare import compare, step_systematic

GRID = fpgal.Grid((-10, 0, 10), (-5, 5, 10), (-2, 2, 4), E_GeV=[10.0, 1000.0])
B, R = 0.04, 0.02


def _pair(meta):
    rng = np.random.default_rng(1)
    ref = np.exp(-np.sum(GRID.cell_centers_kpc() ** 2, axis=-1) / 50.0)[None] * np.array([1.0, 0.01])[:, None, None, None]
    other = ref * (1 + B) + R * ref * rng.standard_normal(ref.shape)
    return fpgal.CRDensity(GRID, ref, meta={"solver": "grid"}), fpgal.CRDensity(GRID, other, R * ref, meta=meta)


@pytest.mark.parametrize("meta, chi2, method", [
    ({"solver": "sde", "rms_step_kpc": 0.1}, 1 + (B / R) ** 2, "none"),
    ({"solver": "sde", "rms_step_kpc": 0.1, "richardson_pair": True, "step_bias_bound_rel": 2 * B}, None,
     "bias-bounded"),
])
def test_step_bias_enters_the_error_budget(tmp_path, meta, chi2, method):
    ref, sde = _pair(meta)
    rep = compare(ref, sde, tmp_path, plots=False)
    s = rep.summary()
    print(s["chi2_dof"], s["step_bias"])
    if chi2 is None:      # E[(b + rξ)² / (r² + b²(1 + b + rξ)²)] by sampling ξ
        xi = np.random.default_rng(0).standard_normal(1_000_000)
        chi2 = float(np.mean((B + R * xi) ** 2 / (R ** 2 + B ** 2 * (1 + B + R * xi) ** 2)))
    assert s["chi2_dof"] == pytest.approx(chi2, rel=0.15)      # 800 cell-energies: spread √(2/800) = 0.05
    assert s["step_bias"]["sde"]["method"] == method
    assert "grid" not in s["step_bias"]
    assert ("NOT estimated" in rep.text()) == (method == "none")


def test_extrapolated_result_has_no_step_systematic():
    cr = fpgal.CRDensity(GRID, np.ones((GRID.n_E,) + GRID.shape),
                         meta={"solver": "sde", "richardson_extrapolated": True, "richardson_pair": True,
                               "step_bias_bound_rel": 0.3, "rms_step_kpc": 0.1, "rms_step_coarse_kpc": 0.1414})
    s, info = step_systematic(cr)
    assert s == 0.0 and info["method"] == "extrapolated"
    assert step_systematic(fpgal.CRDensity(GRID, np.ones((GRID.n_E,) + GRID.shape)))[0] == 0.0
