"""UF23 model construction, cuts and divergence of the halo."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.fields import UF23, divergence_diagnostic
from fpgal.grid import Grid


def test_unknown_model_lists_the_eight():
    with pytest.raises(ValueError) as exc:
        UF23("basic")
    msg = str(exc.value)
    assert "basic" in msg
    for m in ("base", "neCL", "expX", "spur", "cre10", "synCG", "twistX", "nebCor"):
        assert m in msg


def test_bad_max_radius():
    with pytest.raises(ValueError, match="max_radius_kpc"):
        UF23("base", max_radius_kpc=-1.0)


@pytest.mark.parametrize("model", UF23.MODELS)
def test_max_radius_cutoff(model):
    f = UF23(model)
    inside = np.array([[-29.0, 0.0, 2.0], [0.0, 29.9, 0.3]]) * np.array([1, 1, 1])
    outside = np.array([[-30.01, 0.0, 0.0], [22.0, 22.0, 10.0]])
    assert np.all(np.linalg.norm(f(inside), axis=1) > 0)
    assert np.all(f(outside) == 0.0)
    g = UF23(model, max_radius_kpc=10.0)
    assert np.all(g(np.array([[12.0, 0.0, 0.0]])) == 0.0)


@pytest.mark.parametrize("model", UF23.MODELS)
def test_finite_on_axis_and_midplane(model):
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.5], [0.0, 0.0, -3.0], [5.0, 0.0, 0.0], [-8.5, 0.0, 0.0]])
    B = UF23(model)(pts)
    assert np.all(np.isfinite(B))
    # on the axis the reference code takes φ = 0 (cos φ = 1): no B_x; the disk vanishes at r = 0
    assert np.all(B[:3, 0] == 0.0)


@pytest.mark.parametrize("model", ["base", "expX", "twistX"])
def test_halo_is_divergence_free(model):
    """Above the disk only the (toroidal + poloidal / twisted) halo remains: ∇·B = 0 analytically.

    The cell flux imbalance must be at quadrature level and shrink fast (2x2 Gauss) when h halves.
    Box above the disk (z > 2.5 kpc: disk factor < 1e-6), inside the poloidal field's radial edge
    (a < 7 kpc) and off the z axis (where the toroidal B_φ φ̂ has a direction singularity).
    """
    stats = []
    for n in (4, 8):
        g = Grid((1.0, 5.0, n), (-2.0, 2.0, n), (2.5, 5.5, n))
        stats.append(divergence_diagnostic(UF23(model), g).summary["max"])
    assert stats[0] < 1e-3
    assert stats[1] < stats[0] / 8
