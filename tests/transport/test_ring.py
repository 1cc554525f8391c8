"""Numerical perpendicular diffusion of the scheme: ring (azimuthal) field test."""
import numpy as np
import pytest

pytest.importorskip("petsc4py")

from fpgal.grid import Grid
from fpgal.transport.diagnostics import RingField, numerical_diffusion, ring_test


def test_ring_numerical_diffusion_split_scheme():
    res = {(h, eps): ring_test(h, epsilon=eps, R0_kpc=4.0, scheme="split") for h in (0.5, 0.25) for eps in (1e-4, 1e-5)}
    for (h, eps), r in res.items():
        print(f"split h={h} eps={eps:g}: kappa_num/kappa_par = {r['kappa_num_over_kpar']:.3e} "
              f"(= {r['kappa_num_over_kpar'] / eps:.4f} eps; its {r['iterations']}, "
              f"negative weight {r['negative_weight_fraction']:.2e})")
    k05, k025 = res[(0.5, 1e-4)]["kappa_num_over_kpar"], res[(0.25, 1e-4)]["kappa_num_over_kpar"]
    # no absolute spurious diffusion: κ_num scales with ε (a relative error of D⊥), it does not stay put
    assert res[(0.25, 1e-5)]["kappa_num_over_kpar"] < 0.2 * k025
    assert 0 < k025 < 0.02 * 1e-4  # at 0.25 kpc D⊥ is reproduced to 2 % for field-line curvature radius 4 kpc
    order = np.log2(k05 / k025)
    print("observed order", order)
    assert order > 1.4


def test_numerical_diffusion_warns_on_coarse_grid():
    coarse = Grid((-5, 5, 10), (-5, 5, 10), (-2, 2, 4))  # 1 kpc cells, field-line radius ≈ 4 kpc
    with pytest.warns(RuntimeWarning, match="numerical perpendicular diffusion"):
        res = numerical_diffusion(RingField(), coarse, epsilon=1e-4)
    print("1 kpc:", res["ratio_to_epsilon"], "curvature radius", res["curvature_radius_kpc"])
    assert res["warning"] and res["ratio_to_epsilon"] > 0.1
    R = np.hypot(*np.meshgrid(coarse.x_centers_kpc, coarse.y_centers_kpc))
    assert res["curvature_radius_kpc"] == pytest.approx(np.median(R), rel=0.1)
    fine = Grid((-5, 5, 40), (-5, 5, 40), (-2, 2, 16))
    quiet = numerical_diffusion(RingField(), fine, epsilon=1e-4)
    print("0.25 kpc:", quiet["ratio_to_epsilon"])
    assert not quiet["warning"] and quiet["ratio_to_epsilon"] < 0.05
