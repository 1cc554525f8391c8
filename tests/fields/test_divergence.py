"""Divergence diagnostic: regular vs solenoidal JF12 (Kleimann et al. 2019)."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.fields import JF12, Uniform, divergence_diagnostic
from fpgal.grid import Grid


def _central_box(h):
    n = int(round(6.0 / h))
    return Grid((-3.0, 3.0, n), (-3.0, 3.0, n), (-3.0, 3.0, n))


def test_regular_jf12_has_divergence_solenoidal_has_not():
    """The regular JF12 X field is cut at d = 1 kpc: a sheet of divergence whose total |flux| is
    independent of the mesh (≈ 34 μG kpc²), with O(1) relative imbalance in the cut cells at any h.
    The solenoidal version has only quadrature error, which shrinks with h."""
    reg = [divergence_diagnostic(JF12(solenoidal=False), _central_box(h)).summary for h in (0.5, 0.25)]
    sol = [divergence_diagnostic(JF12(solenoidal=True), _central_box(h)).summary for h in (0.5, 0.25)]
    for r, s in zip(reg, sol):
        assert r["max"] > 0.3
        assert r["frac_above_10pct"] > 0.005
        assert s["max"] < 0.03
        assert s["frac_above_10pct"] == 0.0
        assert r["total_abs_flux_muG_kpc2"] > 10 * s["total_abs_flux_muG_kpc2"]
    # a divergence sheet: the total imbalance converges to a finite value, not to zero
    assert reg[1]["total_abs_flux_muG_kpc2"] == pytest.approx(reg[0]["total_abs_flux_muG_kpc2"], rel=0.1)
    # solenoidal: discretization error decreases with h
    assert sol[1]["p99"] < sol[0]["p99"] / 2
    assert sol[1]["weighted_mean"] < sol[0]["weighted_mean"]


def test_uniform_field_exactly_zero_and_fields_of_result():
    g = Grid((0.0, 2.0, 4), (0.0, 1.0, 2), (0.0, 1.0, 3))
    d = divergence_diagnostic(Uniform((1.0, 2.0, 3.0)), g)
    assert d.flux_muG_kpc2.shape == (4, 2, 3)
    assert np.abs(d.flux_muG_kpc2).max() < 1e-14
    # wall flux of a uniform field: |B| × total face area of a cell
    dx, dy, dz = g.spacing_kpc
    assert np.allclose(d.wall_flux_muG_kpc2, np.sqrt(14.0) * 2 * (dx * dy + dy * dz + dx * dz))
    assert "median" in str(d)


def test_point_source_flux_is_gauss_law():
    """A radial 1/r² field from the origin: ∮B·dA = 4π q for the cell holding the source, 0 elsewhere."""
    q = 1.5

    def monopole(x):
        r = np.linalg.norm(x, axis=1)
        return q * x / r[:, None] ** 3

    g = Grid((-1.5, 1.5, 3), (-1.5, 1.5, 3), (-1.5, 1.5, 3))
    d = divergence_diagnostic(monopole, g, n_gauss=16)
    assert d.flux_muG_kpc2[1, 1, 1] == pytest.approx(4 * np.pi * q, rel=1e-3)
    d.flux_muG_kpc2[1, 1, 1] = 0.0
    assert np.abs(d.flux_muG_kpc2).max() < 1e-3


def test_bad_gauss_order():
    with pytest.raises(ValueError, match="n_gauss"):
        divergence_diagnostic(Uniform(), Grid((0, 1, 1), (0, 1, 1), (0, 1, 1)), n_gauss=0)
