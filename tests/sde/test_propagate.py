"""fpgal.sde.propagate: free diffusion in a uniform tilted field, escape from a slab, reproducibility."""
from __future__ import annotations

import math

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")

import fpgal  # noqa: E402
from fpgal import units  # noqa: E402
from fpgal.diffusion import FieldAligned, Isotropic  # noqa: E402
from fpgal.fields import Uniform  # noqa: E402
from fpgal.sde import propagate  # noqa: E402

D_PAR = 3.0e28          # cm²/s
EPS = 0.1
B_DIR = np.array([1.0, 2.0, 2.0]) / 3.0     # tilted against every axis
E_GEV = 100.0


def _frame(b):
    e1 = np.cross(b, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(b, e1)


@pytest.mark.parametrize("mode", ["ito", "crpropa"])
def test_uniform_tilted_field_moments_and_normality(mode):
    N = 60_000
    duration = 3.0e13                               # s; √(2 D∥ t) ≈ 0.44 kpc
    tensor = FieldAligned(Uniform(2.5 * B_DIR), EPS, D_PAR)
    pos, escaped, _ = propagate(np.zeros((N, 3)), tensor, E_GEV, duration, duration / 8, seed=11, mode=mode)
    assert not escaped.any()
    var_par = 2.0 * D_PAR * duration / units.kpc_cm ** 2            # kpc²
    var_perp = EPS * var_par
    e1, e2 = _frame(B_DIR)
    for comp, var in ((pos @ B_DIR, var_par), (pos @ e1, var_perp), (pos @ e2, var_perp)):
        # mean 0 within 3σ, sample variance within 3σ of its sampling error √(2/N) var
        assert abs(comp.mean()) < 3.0 * math.sqrt(var / N)
        assert abs(comp.var() / var - 1.0) < 3.0 * math.sqrt(2.0 / N)
        z = comp / math.sqrt(var)
        assert scipy_stats.kstest(z, "norm").pvalue > 1e-3
    # the two perpendicular components are uncorrelated with the parallel one
    assert abs(np.corrcoef(pos @ B_DIR, pos @ e1)[0, 1]) < 3.0 / math.sqrt(N)


def test_slab_escape_matches_eigenfunction_series():
    """Survival in |x| < a from x = 0 (isotropic D): P(t) = Σ_odd n 4/(nπ) (−1)^((n−1)/2) e^{−n²π²Dt/(2a)²}.

    Only 6 large steps: without the Brownian-bridge correction the survival would be biased high.
    """
    a = 1.0
    D = 1.0e28
    L = 2 * a
    t = 0.15 * L ** 2 * units.kpc_cm ** 2 / D
    n = np.arange(1, 200, 2)
    p_exact = float(np.sum(4 / (n * np.pi) * (-1.0) ** ((n - 1) // 2) * np.exp(-(n * np.pi / L) ** 2 * D * t
                                                                              / units.kpc_cm ** 2)))
    N = 40_000
    box = fpgal.Box([-a, -50, -50], [a, 50, 50])
    _, esc, t_esc = propagate(np.zeros((N, 3)), Isotropic(D), E_GEV, t, t / 6, seed=5, boundary=box)
    p_sde = 1.0 - esc.mean()
    sigma = math.sqrt(p_exact * (1 - p_exact) / N)
    print(f"slab survival: SDE {p_sde:.4f}, exact {p_exact:.4f}, sigma {sigma:.4f}")
    assert abs(p_sde - p_exact) < 3.5 * sigma + 0.01 * p_exact
    assert np.all(np.isfinite(t_esc[esc])) and np.all(np.isnan(t_esc[~esc]))
    _, esc_nb, _ = propagate(np.zeros((N, 3)), Isotropic(D), E_GEV, t, t / 6, seed=5, boundary=box, bridge=False)
    assert 1.0 - esc_nb.mean() > p_exact + 5 * sigma     # the correction matters at this step size


def test_seed_reproducibility_and_chunk_independence():
    tensor = FieldAligned(Uniform(B_DIR), EPS, D_PAR)
    x0 = np.random.default_rng(0).normal(size=(3000, 3))
    a = propagate(x0, tensor, E_GEV, 1e13, 2e12, seed=42, chunk_size=1000)
    b = propagate(x0, tensor, E_GEV, 1e13, 2e12, seed=42, chunk_size=1000)
    c = propagate(x0, tensor, E_GEV, 1e13, 2e12, seed=43, chunk_size=1000)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    pos, esc = a[0], a[1]                          # tuple unpacking of the result
    assert pos.shape == (3000, 3) and esc.dtype == bool


def test_bad_input_is_named():
    tensor = FieldAligned(Uniform(B_DIR), EPS, D_PAR)
    with pytest.raises(ValueError, match="mode"):
        propagate(np.zeros((2, 3)), tensor, E_GEV, 1e13, 1e12, mode="stratonovich")
    with pytest.raises(ValueError, match="dt_s"):
        propagate(np.zeros((2, 3)), tensor, E_GEV, 1e13, -1.0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        propagate(np.zeros((2, 2)), tensor, E_GEV, 1e13, 1e12)
    with pytest.raises(TypeError, match="frame"):
        propagate(np.zeros((2, 3)), lambda x, E: np.broadcast_to(np.eye(3) * 1e28, (len(x), 3, 3)), E_GEV,
                  1e13, 1e12, mode="crpropa")
