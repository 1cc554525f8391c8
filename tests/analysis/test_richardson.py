"""The observed order and Richardson error of fpgal.analysis.richardson: synthetic sequences of known
order, the rules for clipping / assuming the order, and an analytic transport problem solved by fpgal
on three meshes (isotropic diffusion of a sine source in a box, exact solution known)."""
import math

import numpy as np
import pytest

from fpgal.analysis.richardson import ORDER_ASSUMED, ORDER_MAX, observed_order, richardson
from fpgal.studies.convergence import finding_verdict

H = [1.0, 0.5, 0.25, 0.125]


@pytest.mark.parametrize("p", [1, 2])
def test_pure_power_sequences_give_their_order_and_exact_error(p):
    """f(h) = f∞ + c h^p: every observed order is p, the error of the finest value is exactly |f − f∞|
    and the extrapolation recovers f∞."""
    f_inf, c = 3.0, -0.7
    values = [f_inf + c * h ** p for h in H]
    conv = richardson(values, H)
    assert np.allclose(conv.orders, p, atol=1e-12)
    assert conv.order_used == pytest.approx(p) and conv.order_source == "observed"
    assert conv.error == pytest.approx(abs(values[-1] - f_inf), rel=1e-10)
    assert conv.extrapolated == pytest.approx(f_inf, rel=1e-12)
    assert np.allclose(conv.changes, np.diff(values))


def test_leading_order_with_a_higher_term_estimates_the_error_within_20_percent():
    values = [1.0 + h ** 2 + 0.3 * h ** 3 for h in H]
    conv = richardson(values, H)
    true_error = abs(values[-1] - 1.0)
    assert 2.0 < conv.orders[-1] < 2.2
    assert 0.8 < conv.error / true_error < 1.2


def test_order_above_the_scheme_order_is_clipped_conservatively():
    """f = 1 + h³ on a second-order scheme: p is clipped to 2, which overestimates the error."""
    values = [1.0 + h ** 3 for h in H[:3]]
    conv = richardson(values, H[:3])
    assert conv.orders[-1] == pytest.approx(3.0) and conv.order_used == ORDER_MAX == 2.0
    assert "clipped" in conv.order_source
    assert conv.error == pytest.approx(0.25 ** 3 * 7 / 3) and conv.error > 0.25 ** 3


def test_oscillating_or_two_meshes_assume_first_order():
    osc = richardson([1.0, 1.2, 1.1], H[:3])                 # changes +0.2, −0.1: not asymptotic
    assert osc.order_used == ORDER_ASSUMED == 1.0 and "opposite sign" in osc.order_source
    assert osc.error == pytest.approx(0.1)                  # |Δ|/(2¹ − 1)
    two = richardson([2.0, 2.3], [0.5, 0.25])
    assert two.orders == () and two.order_used == 1.0 and two.error == pytest.approx(0.3)
    same = richardson([5.0, 5.0 * (1 + 1e-13), 5.0], H[:3])   # round-off: no change, no error
    assert same.error == 0.0 and same.order_source == "no change on the last refinement"
    grow = richardson([1.0, 1.1, 1.4], H[:3])                # changes grow: flagged, p = 0.5
    assert grow.order_used == 0.5 and "not converging" in grow.order_source
    assert grow.error == pytest.approx(0.3 / (2 ** 0.5 - 1))
    assert math.isnan(richardson([1.0, float("nan"), 2.0], H[:3]).error)
    assert math.isnan(observed_order(0.0, 1.0)) and observed_order(4.0, 1.0) == pytest.approx(2.0)


def test_bad_spacings_are_named():
    with pytest.raises(ValueError, match=r"\[1\.0, 0\.5, 0\.2\] kpc.*constant refinement ratio.*\[2\.0, 2\.5\]"):
        richardson([1, 2, 3], [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="at least two positive"):
        richardson([1], [1.0])
    with pytest.raises(ValueError, match="3 values for 2 mesh spacings"):
        richardson([1, 2, 3], [1.0, 0.5])


def test_finding_verdict_needs_every_number_beyond_its_error():
    row = {"threshold": 1.0}
    assert finding_verdict([{**row, "value": 1.1, "error": 0.05, "sense": ">"},
                            {**row, "value": 0.8, "error": 0.1, "sense": "<"}]) == "holds"
    assert finding_verdict([{**row, "value": 1.1, "error": 0.05, "sense": ">"},
                            {**row, "value": 0.95, "error": 0.1, "sense": "<"}]) == "not settled"
    assert finding_verdict([{**row, "value": 1.02, "error": 0.05, "sense": ">"},
                            {**row, "value": 0.9, "error": 0.05, "sense": ">"}]) == "does not hold"


# ------------------------------------------------------------------------------------------ fpgal's own solutions
def _sine_content(k: int) -> tuple[float, float]:
    """∫ n dV of fpgal's solution of D ∇²n = −2 sin(πx/Lx) sin(πy/Ly) sin(πz/Lz) on a (8k, 6k, 5k) grid
    (n = 0 on the faces) and the exact value 2/(D λ) Π 2L_i/π, λ = π² Σ 1/L_i² (GeV⁻¹ cm⁻³ kpc³)."""
    pytest.importorskip("petsc4py")
    from fpgal import units
    from fpgal.diffusion import Isotropic
    from fpgal.grid import Grid
    from fpgal.transport import solve_steady
    D, L = 3.0e28, np.array([4.0, 3.0, 2.0])
    grid = Grid((0, L[0], 8 * k), (0, L[1], 6 * k), (0, L[2], 5 * k), E_GeV=np.array([100.0]))
    cr = solve_steady(grid, Isotropic(D), lambda xyz: np.prod(np.sin(np.pi * xyz / L), axis=1), lambda E: 2.0,
                      source_points=1)
    lam = np.pi ** 2 * np.sum(1.0 / (L * units.kpc_cm) ** 2)
    exact = 2.0 / (D * lam) * np.prod(2 * L / np.pi)
    return float(cr.density[0].sum() * grid.cell_volume_kpc3), float(exact)


def test_fpgal_sine_problem_converges_at_order_2_and_richardson_bounds_its_error():
    """The grid's particle content on 3 meshes: observed order 2 (cell-centred FV, midpoint quadrature),
    the Richardson error of the finest value within 20 % of its true error, the extrapolation ≥ 10×
    closer to the exact content than the finest mesh."""
    contents, exact = zip(*(_sine_content(k) for k in (1, 2, 4)))
    conv = richardson(contents, [1.0, 0.5, 0.25])
    true_error = abs(contents[-1] - exact[0])
    assert conv.order_source.startswith("observed") and 1.9 < conv.orders[0] < 2.1
    print("contents", contents, "exact", exact[0], "order", conv.orders, "err", conv.error, "true", true_error)
    assert 0.8 < conv.error / true_error < 1.2
    assert abs(conv.extrapolated - exact[0]) < 0.1 * true_error
