"""Drift ∇·D of the SDE: central differences and the lookup table against the exact ring-field value."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.diffusion import FieldAligned
from fpgal.sde import SDECoefficients, tabulate
from fpgal.sde.coefficients import cholesky_apply, frame_sqrt_apply

from sde_fields import RingField, ring_divergence

EPS = 0.1


def _points(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    r = rng.uniform(2.0, 6.0, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-1, 1, n)], axis=1)


def test_fd_divergence_of_ring_field():
    c = SDECoefficients(FieldAligned(RingField(), EPS, 1e28), 1000.0)
    x = _points()
    err = np.abs(c.divergence(x) - ring_divergence(x, EPS)).max()
    print(f"FD (h = 1 pc) max error of div S: {err:.2e} kpc^-1")
    assert err < 1e-6


@pytest.mark.parametrize("h_coarse", [0.2])
def test_table_divergence_second_order(h_coarse):
    tensor = FieldAligned(RingField(), EPS, 1e28)
    x = _points(3000, 1)
    errs = []
    for h in (h_coarse, h_coarse / 2):
        tab = tabulate(tensor, [-7, -7, -1.5], [7, 7, 1.5], h)
        div = tab.divergence(x, 1000.0) / tab.energy_factor(1000.0)
        errs.append(np.sqrt(np.mean(np.sum((div - ring_divergence(x, EPS)) ** 2, axis=1))))
        S_err = np.abs(tab.spatial(x) - tensor.spatial(x)).max()
        assert S_err < 0.05 * (h / 0.2) ** 2
    order = np.log2(errs[0] / errs[1])
    print(f"table rms error of div S: {errs[0]:.3e} (h={h_coarse}), {errs[1]:.3e} (h={h_coarse / 2}); order {order:.2f}")
    assert 1.7 < order < 2.3


def test_square_roots_reproduce_the_covariance():
    tensor = FieldAligned(RingField(), 0.05, 1.0)
    x = _points(5, 2)
    S = tensor.spatial(x)
    b, dpar, dperp = tensor.frame(x)
    # apply to the unit vectors: M = L · I, then M Mᵀ must equal S
    for apply in (lambda xi, i: frame_sqrt_apply(b[i:i + 1], dpar[i:i + 1], dperp[i:i + 1], xi),
                  lambda xi, i: cholesky_apply(S[i:i + 1], xi)):
        for i in range(len(x)):
            M = np.stack([apply(e[None, :], i)[0] for e in np.eye(3)], axis=1)
            np.testing.assert_allclose(M @ M.T, S[i], atol=1e-12)
