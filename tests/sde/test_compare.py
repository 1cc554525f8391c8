"""fpgal.analysis.compare: pulls, χ²/dof and outputs on synthetic densities with known statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fpgal
from fpgal.analysis.compare import compare

GRID = fpgal.Grid((-10, 0, 10), (-5, 5, 10), (-2, 2, 4), E_GeV=[10.0, 100.0, 1000.0])


def _pair(offset_sigma=0.0, rel=0.02, seed=0):
    rng = np.random.default_rng(seed)
    shape = (GRID.n_E,) + GRID.shape
    ref = np.exp(-np.sum(GRID.cell_centers_kpc() ** 2, axis=-1) / 50.0)[None] * np.array([1.0, 0.1, 0.01])[:, None, None, None]
    err = rel * ref
    other = ref + err * (offset_sigma + rng.standard_normal(shape))
    return fpgal.CRDensity(GRID, ref), fpgal.CRDensity(GRID, other, err)


def test_consistent_pair_has_unit_chi2(tmp_path):
    a, b = _pair()
    rep = compare(a, b, tmp_path)
    s = rep.summary()
    n = s["n_cells"]
    assert n == GRID.n_E * GRID.n_cells
    # χ² of n unit normals: mean 1 ± √(2/n)
    assert abs(s["chi2_dof"] - 1.0) < 4 * np.sqrt(2.0 / n)
    assert abs(rep.local_other[0] / rep.local_ref[0] - 1.0) < 0.02
    for f in rep.files:
        assert f.exists() and f.stat().st_size > 0
    assert {f.name for f in rep.files} >= {"compare_report.txt", "compare_summary.json", "compare_ratio_maps.png",
                                           "compare_pulls.png", "compare_local_spectra.png"}
    assert json.loads((tmp_path / "compare_summary.json").read_text())["n_cells"] == n
    assert "chi2/dof" in (tmp_path / "compare_report.txt").read_text()


def test_offset_is_detected(tmp_path):
    a, b = _pair(offset_sigma=2.0)
    s = compare(a, b, tmp_path, plots=False).summary()
    # E[(2 + ξ)²] = 5
    assert abs(s["chi2_dof"] - 5.0) < 0.5
    assert all(abs(p - 2.0) < 0.2 for p in s["mean_pull_per_E"])
    assert all(abs(r - 1.04) < 0.005 for r in s["median_ratio_per_E"])


def test_poorly_populated_cells_are_left_out(tmp_path):
    a, b = _pair(rel=0.5)
    rep = compare(a, b, tmp_path, plots=False, max_rel_error=0.1)
    assert rep.summary()["n_cells"] == 0


def test_grid_mismatch_is_an_error(tmp_path):
    a, _ = _pair()
    other = fpgal.CRDensity(GRID.with_energies([1.0, 2.0, 3.0]), a.density)
    with pytest.raises(ValueError, match="different grids"):
        compare(a, other, tmp_path)
