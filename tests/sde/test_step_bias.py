"""The SDE's default step from the field geometry, and its Richardson step-bias estimate.

* ring field b = φ̂: the gradient length is the curvature radius, L = r/(1 − ε) (fpgal.sde.stepsize);
  the default step is c × the 5 % quantile of L over the cells inside the boundary and scales with r;
* a slab with D_zz = D0 (1 + z²/a²) between absorbing faces (analytic mean exit time and density): at a
  coarse step the fine run is biased by ~4 % (many σ); the Richardson pair estimates that bias and its
  extrapolation recovers the exact values within statistics. (In the constant-D box of sde_analytic.py
  the bridge-corrected step bias is below 0.5 % even at ℓ = 0.35 kpc: no test of the extrapolation.)
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fpgal
from fpgal import units
from fpgal.diffusion import FieldAligned, Isotropic
from fpgal.sde import steady_state
from fpgal.sde.richardson import richardson
from fpgal.sde.steady import coarse_seed
from fpgal.sde.stepsize import (ESCAPE_FRACTION, LENGTH_QUANTILE, STEP_FRACTION, default_step,
                                gradient_lengths, sample_cells)

from sde_fields import RingField

EPS = 0.1


def test_gradient_length_of_a_ring_is_its_curvature_radius():
    tensor = FieldAligned(RingField(), EPS, 3e28)
    rng = np.random.default_rng(0)
    r = rng.uniform(0.5, 8.0, 200)
    phi = rng.uniform(0, 2 * np.pi, 200)
    x = np.column_stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-1, 1, 200)])
    L = gradient_lengths(tensor.spatial, x, 1e-3)
    np.testing.assert_allclose(L, r / (1 - EPS), rtol=1e-4)
    uniform = FieldAligned(fpgal.fields.Uniform((0.0, 1.0, 0.0)), EPS, 3e28)
    assert np.all(np.isinf(gradient_lengths(uniform.spatial, x, 1e-3)))


@pytest.mark.parametrize("R", [5.0, 10.0])
def test_default_step_scales_with_the_curvature_radius(R):
    """Cylinder of radius R around the ring's axis: L(x) = r/(1 − ε), so the default step is
    c × quantile_5%(r)/(1 − ε) ∝ R (the escape cap 0.1 min(R, H) and the half-cell cap are larger)."""
    n = 20
    grid = fpgal.Grid((-R, R, n), (-R, R, n), (-R, R, n), E_GeV=[1000.0])
    boundary = fpgal.Cylinder(R, R).bind(grid) if hasattr(fpgal.Cylinder(R, R), "bind") else fpgal.Cylinder(R, R)
    tensor = FieldAligned(RingField(), EPS, 3e28)
    choice = default_step(tensor.spatial, grid, boundary, 1e-3)
    r = np.hypot(*sample_cells(grid, boundary)[:, :2].T)
    expected = STEP_FRACTION * np.quantile(r / (1 - EPS), LENGTH_QUANTILE)
    assert choice.limited_by == "gradient length"
    assert choice.step_kpc == pytest.approx(expected, rel=1e-3)
    assert choice.step_kpc == pytest.approx(STEP_FRACTION * math.sqrt(LENGTH_QUANTILE) * R / (1 - EPS), rel=0.15)
    assert choice.step_kpc < ESCAPE_FRACTION * R and choice.step_kpc < 0.5 * 2 * R / n


def test_steady_state_uses_the_geometric_step():
    """The default of steady_state is that step (rms step √(2dτ) = ℓ), recorded in meta."""
    R = 5.0
    grid = fpgal.Grid((-R, R, 10), (-R, R, 10), (-1, 1, 4), E_GeV=[1000.0])
    cyl = fpgal.Cylinder(R, 1.0)
    tensor = FieldAligned(RingField(), EPS, 3e28)
    cr = steady_state(grid, tensor, lambda x: np.exp(-np.sum((x - [3, 0, 0]) ** 2, axis=1)), lambda E: 1.0,
                      n_particles=50, seed=1, boundary=cyl, comm=None, richardson=False)
    choice = default_step(tensor.spatial, grid, cyl.bind(grid) if hasattr(cyl, "bind") else cyl)
    assert cr.meta["step_choice_step_kpc"] == pytest.approx(choice.step_kpc, rel=1e-12)
    assert cr.meta["rms_step_kpc"] == pytest.approx(choice.step_kpc, rel=1e-12)
    # here the escape scale (H = 1 kpc) limits: 0.1 kpc < 0.15 L
    assert choice.limited_by == "escape scale" and choice.step_kpc == pytest.approx(0.1)


# ------------------------------------------------------------------ Richardson on an analytic slab
# D = D0 diag(δ, δ, 1 + (z/a)²) between absorbing faces z = ±H (δ = 1e-12: no motion in x, y), uniform
# source in |z| < h_s. The Itô drift ∂_z D_zz = 2 D0 z/a² matters, and Euler–Maruyama has an O(dτ) bias.
# Exact: the mean exit time from z solves d/dz(D dT/dz) = −1, T(±H) = 0:
#     T(z) = (a²/2D0) ln[(1 + H²/a²)/(1 + z²/a²)],
# and the density −(D n')' = q: n(z) = q ∫_{|z|}^{H} min(z', h_s)/D(z') dz'.
D0 = 3.0e28
A_KPC, H_KPC, HS_KPC = 0.5, 1.0, 0.25
STEP = 0.15        # fine-run bias +4 %, coarse +8 %: weak order 1 with a small second-order term
N = 30_000
GRID = fpgal.Grid((-1, 1, 1), (-1, 1, 1), (-H_KPC, H_KPC, 16), E_GeV=[1000.0])


class Slab:
    """Separable tensor D0 diag(δ, δ, 1 + (z/a)²) with its analytic divergence."""

    def energy_factor(self, E_GeV):
        return D0

    def spatial(self, xyz):
        S = np.zeros((len(xyz), 3, 3))
        S[:, 0, 0] = S[:, 1, 1] = 1e-12
        S[:, 2, 2] = 1.0 + (xyz[:, 2] / A_KPC) ** 2
        return S

    def divergence(self, xyz, E_GeV):
        d = np.zeros((len(xyz), 3))
        d[:, 2] = D0 * 2.0 * xyz[:, 2] / A_KPC ** 2
        return d

    def __call__(self, xyz, E_GeV):
        return D0 * self.spatial(xyz)


def _source(xyz):
    return (np.abs(xyz[:, 2]) < HS_KPC).astype(float)


def _exact_residence_Myr() -> float:
    z = np.linspace(-HS_KPC, HS_KPC, 20001)
    T_kpc2 = 0.5 * A_KPC ** 2 * np.log((1 + (H_KPC / A_KPC) ** 2) / (1 + (z / A_KPC) ** 2))
    return float(np.trapezoid(T_kpc2, z) / (2 * HS_KPC) * units.kpc_cm ** 2 / D0 / units.Myr_s)


def _exact_profile() -> np.ndarray:
    """Cell averages of n(z) [GeV⁻¹ cm⁻³] for q = 1 GeV⁻¹ cm⁻³ s⁻¹ inside the source."""
    z = np.linspace(0.0, H_KPC, 200_001)
    integrand = np.minimum(z, HS_KPC) / (1 + (z / A_KPC) ** 2)
    tail = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(z))])
    n_of_z = (tail[-1] - tail) * units.kpc_cm ** 2 / D0          # n(|z|)
    edges = np.linspace(-H_KPC, H_KPC, GRID.shape[2] + 1)
    fine = np.linspace(-H_KPC, H_KPC, 160_001)
    vals = np.interp(np.abs(fine), z, n_of_z)
    idx = np.minimum(np.searchsorted(edges, fine, side="right") - 1, GRID.shape[2] - 1)
    return np.bincount(idx, weights=vals) / np.bincount(idx)


@pytest.fixture(scope="module")
def slab_runs():
    """The fine (ℓ) and coarse (√2 ℓ) runs of a pair, as steady_state(richardson=True) makes them."""
    kw = dict(n_particles=N, comm=None, richardson=False)
    fine = steady_state(GRID, Slab(), _source, lambda E: 1.0, seed=11, step_kpc=STEP, **kw)
    coarse = steady_state(GRID, Slab(), _source, lambda E: 1.0, seed=coarse_seed(11),
                          step_kpc=math.sqrt(2) * STEP, **kw)
    coarse.meta["dtau_kpc2"] = 2 * fine.meta["dtau_kpc2"]
    return fine, coarse


def test_richardson_recovers_the_exact_mean_residence(slab_runs):
    m = richardson(*slab_runs).meta
    exact = _exact_residence_Myr()
    fine_err = m["mean_residence_Myr_err"]
    print(f"exact {exact:.4f} Myr; fine {m['residence_fine']:.4f} ± {fine_err:.4f}, coarse "
          f"{m['residence_coarse']:.4f}, extrapolated {m['residence_extrapolated']:.4f} ± "
          f"{m['residence_extrapolated_err']:.4f}; fine-step bias {m['step_bias_rel_residence']:+.4f} ± "
          f"{m['step_bias_rel_residence_err']:.4f}, bound {m['step_bias_bound_rel']:.4f}")
    assert m["richardson_pair"] and not m["richardson_extrapolated"]
    assert m["mean_residence_Myr"] == m["residence_fine"]            # the result is the fine run
    true_bias = (m["residence_fine"] - exact) / exact
    # the fine run is measurably biased (> 5σ) ...
    assert abs(m["residence_fine"] - exact) > 5 * fine_err
    # ... the pair estimates that bias within 3σ, and the extrapolation hits the exact value
    assert abs(m["step_bias_rel_residence"] - true_bias) < 3 * m["step_bias_rel_residence_err"]
    assert abs(m["residence_extrapolated"] - exact) < 3 * m["residence_extrapolated_err"]
    assert m["step_bias_bound_rel"] >= abs(true_bias)


def test_extrapolated_profile_agrees_with_the_exact_solution(slab_runs):
    """Cell by cell: 2 n(dτ) − n(2dτ) vs the exact n(z), χ² ≈ 1 per cell; the fine run alone is far off.

    The cells within 0.25 kpc of the faces are left out: there D_zz = 5 D0 and the local rms step
    √(2 D_zz dτ) = 0.34 kpc is not small against the distance to the face, the bias is not yet linear in
    dτ (fine +44 %, coarse +72 % in the outermost cells) and the extrapolation leaves +17 … 22 % there.
    """
    exact = _exact_profile()
    inner = slice(2, -2)
    extrapolated = richardson(*slab_runs, extrapolate=True)
    assert extrapolated.meta["richardson_extrapolated"]
    chi2 = {}
    for name, cr in (("extrapolated", extrapolated), ("fine", slab_runs[0])):
        n, e = cr.density[0, 0, 0, inner], cr.error[0, 0, 0, inner]
        assert np.all(e > 0)
        chi2[name] = float(np.mean(((n - exact[inner]) / e) ** 2))
    print(chi2)
    assert chi2["extrapolated"] < 2.0            # 12 cells: χ²/12 has a spread of ≈ 0.4
    assert chi2["fine"] > 5.0


def test_steady_state_pair_is_the_two_runs():
    """steady_state(richardson=True) = the fine run (same seed) with the pair's step bias in meta."""
    kw = dict(n_particles=2000, comm=None)
    pair = steady_state(GRID, Slab(), _source, lambda E: 1.0, seed=5, step_kpc=STEP, **kw)
    fine = steady_state(GRID, Slab(), _source, lambda E: 1.0, seed=5, step_kpc=STEP, richardson=False, **kw)
    coarse = steady_state(GRID, Slab(), _source, lambda E: 1.0, seed=coarse_seed(5), richardson=False,
                          step_kpc=math.sqrt(2) * STEP, **kw)
    np.testing.assert_array_equal(pair.density, fine.density)
    assert pair.meta["residence_coarse"] == pytest.approx(coarse.meta["mean_residence_Myr"], rel=1e-12)
    assert pair.meta["rms_step_coarse_kpc"] == pytest.approx(math.sqrt(2) * STEP, rel=1e-12)


def test_richardson_needs_steps_a_factor_two_apart(slab_runs):
    with pytest.raises(ValueError, match="twice"):
        richardson(slab_runs[0], slab_runs[0])


@pytest.mark.parametrize("step_bias, pair, extrapolated", [("off", False, False), ("pair", True, False),
                                                           ("extrapolate", True, True)])
def test_sde_config_switches_the_richardson_pair(tmp_path, step_bias, pair, extrapolated):
    """[sde] step_bias reaches the SDE run of the pipeline: off = one run, pair = fine run + bias, extrapolate."""
    from _studies import milky_way_mesh
    from fpgal.config import config_from_dict
    from fpgal.pipeline import run_sde
    from fpgal.result import CRDensity
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(milky_way_mesh(8, 4, 3))
    cfg = config_from_dict({"output_dir": str(tmp_path), "grid": {"mesh": str(mesh)},
                            "sde": {"n_particles": 40, "step_bias": step_bias, "seed": 3}})
    meta = CRDensity.load(run_sde(cfg, 0.1, str(tmp_path / "sde.h5"))).meta
    assert bool(meta.get("richardson_pair", False)) is pair
    assert bool(meta.get("richardson_extrapolated", False)) is extrapolated
