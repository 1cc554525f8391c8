"""The compiled (numba) SDE kernels: one step equals the numpy engine's step with the same random numbers;
whole runs agree with the analytic Dirichlet-box solution and, in distribution, with the numpy engine."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fpgal
from fpgal.diffusion import FieldAligned, Isotropic
from fpgal.sde import SDECoefficients, steady_state
from fpgal.sde.kernels import (HAVE_NUMBA, bridge_log_survival, crpropa_move, ito_frame_increment, ito_increment,
                               trilinear_point)
from fpgal.sde.stepping import crpropa_step
from fpgal.sde.table import tabulate, tabulate_frame

from sde_fields import RingField
from test_steady_analytic import GRID, analytic, d_par, pulls, source, spectrum

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

RING = FieldAligned(RingField(), 0.1, 3e28)
LO, HI = [-6.0, -6.0, -2.0], [6.0, 6.0, 2.0]


@pytest.fixture(scope="module")
def ring_tables():
    return tabulate(RING, LO, HI, 0.2), tabulate_frame(RING, LO, HI, 0.2)


@pytest.fixture(scope="module")
def ring_frame_divergence():
    return tabulate_frame(FieldAligned(RingField(), 1e-3, 3e28), LO, HI, 0.2, divergence=True)


def test_ito_frame_step_equals_numpy_step(ring_frame_divergence):
    """Itô on the frame table with ∇·S: kernel and SDECoefficients.increment (frame root + table drift)."""
    tab = ring_frame_divergence
    x = _points(200, 5)
    xi = np.random.default_rng(6).standard_normal(x.shape)
    dtau = 0.5 * 0.05 ** 2
    ref, _ = SDECoefficients(tab, 1000.0).increment(x, xi, dtau)
    out, S = np.empty(3), np.empty(6)
    for i in range(len(x)):
        assert ito_frame_increment(tab.values, tab.lower_kpc, 1.0 / tab.spacing_kpc, x[i], xi[i], dtau, out, S)
        np.testing.assert_allclose(out, ref[i], rtol=1e-10, atol=1e-14)


def test_frame_table_keeps_the_anisotropy_that_an_S_table_loses(ring_frame_divergence):
    """Between nodes of differently oriented b, interpolating S = ε I + (1 − ε) b bᵀ adds a perpendicular
    part ~ (h/r)²/4; the frame table builds S from the interpolated b̂ and keeps λ⊥ = ε exactly. The
    tabulated ∇·S matches the ring's exact −(1 − ε) r̂/r to O(h²)."""
    from sde_fields import ring_divergence
    eps = 1e-3
    x = _points(2000, 7)
    x = x[np.hypot(x[:, 0], x[:, 1]) > 1.0]
    lam_frame = np.linalg.eigvalsh(ring_frame_divergence.spatial(x))[:, :2]
    lam_S = np.linalg.eigvalsh(tabulate(FieldAligned(RingField(), eps, 3e28), LO, HI, 0.2).spatial(x))[:, :2]
    np.testing.assert_allclose(lam_frame, eps, rtol=1e-9)
    assert np.mean(lam_S[:, 1]) > 1.5 * eps    # the S table's spurious in-plane perpendicular diffusion
    div = ring_frame_divergence.divergence(x, 1000.0) / 3e28
    exact = ring_divergence(x, eps)
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.max(np.abs(div - exact)[r > 2.0]) < 0.02 * np.max(np.abs(exact))


def _points(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-5, 5, n), rng.uniform(-5, 5, n), rng.uniform(-1.5, 1.5, n)])


def test_trilinear_point_equals_table_interpolation(ring_tables):
    tab, _ = ring_tables
    x = _points(50)
    out = np.empty(9)
    ref = tab._interp(x)
    for i in range(len(x)):
        trilinear_point(tab.values, tab.lower_kpc, 1.0 / tab.spacing_kpc, *x[i], out)
        np.testing.assert_allclose(out, ref[i], rtol=1e-12, atol=1e-14)


def test_ito_step_equals_numpy_step(ring_tables):
    """x' − x = (∇·S) dτ + √(2dτ) L ξ from the kernel and from SDECoefficients.increment, same ξ."""
    tab, _ = ring_tables
    x = _points(200, 1)
    xi = np.random.default_rng(2).standard_normal(x.shape)
    dtau = 0.5 * 0.05 ** 2
    ref, quad = SDECoefficients(tab, 1000.0).increment(x, xi, dtau)
    out, S = np.empty(3), np.empty(6)
    ez = np.tile([0.0, 0.0, 1.0], (len(x), 1))
    for i in range(len(x)):
        assert ito_increment(tab.values, tab.lower_kpc, 1.0 / tab.spacing_kpc, x[i], xi[i], dtau, out, S)
        np.testing.assert_allclose(out, ref[i], rtol=1e-10, atol=1e-14)
        assert S[5] == pytest.approx(quad(ez[i:i + 1], np.array([i]))[0], rel=1e-12)


def test_crpropa_step_equals_numpy_step(ring_tables):
    """Field-line tracing (Cash–Karp substeps) and the perpendicular step, same η and ξ."""
    _, frame = ring_tables
    x = _points(100, 3)
    coeffs = SDECoefficients(frame, 1000.0)
    dtau = 0.5 * 0.3 ** 2                                   # long enough for several substeps
    ref, _ = crpropa_step(coeffs, x, dtau, np.random.default_rng(4), trace_step_kpc=0.05)
    draws = np.random.default_rng(4)
    eta, xi = draws.standard_normal(len(x)), draws.standard_normal(x.shape)
    out, S = np.empty(3), np.empty(6)
    for i in range(len(x)):
        crpropa_move(frame.values, frame.lower_kpc, 1.0 / frame.spacing_kpc, x[i], eta[i], xi[i], dtau, 0.05, out, S)
        np.testing.assert_allclose(out, ref[i], rtol=1e-10, atol=1e-12)


def test_bridge_survival_of_a_slab():
    """exp(−2 d₀ d₁ / σ²) per face: one face 0.1 and 0.2 kpc away, σ² = 2 S_zz dτ."""
    S = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.5])
    dtau = 0.01
    box = np.array([-10.0, -10.0, -1.0, 10.0, 10.0, 1.0])
    got = bridge_log_survival(1, box, np.array([0.0, 0.0, 0.9]), np.array([0.0, 0.0, 0.8]), S, dtau)
    p = math.exp(-2 * 0.1 * 0.2 / (2 * 0.5 * dtau))
    far = sum(math.log1p(-math.exp(-2 * a * b / (2 * dtau))) for a, b in ((10, 10), (10, 10)) * 2)
    far += math.log1p(-math.exp(-2 * 1.9 * 1.8 / (2 * 0.5 * dtau)))
    assert got == pytest.approx(math.log1p(-p) + far, rel=1e-12)


@pytest.mark.parametrize("mode", ["ito", "crpropa"])
def test_kernel_matches_the_analytic_box(mode):
    """Isotropic D in the Dirichlet cube: the compiled run against the eigenfunction series."""
    cr = steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=40_000, seed=5, step_kpc=0.0625,
                      lookup_spacing_kpc=0.125, kernel="numba", mode=mode, richardson=False, comm=None)
    assert cr.meta["kernel"] == "numba" and cr.meta["fraction_not_absorbed"] == 0.0
    ref = analytic(1000.0)
    p, good = pulls(cr.density[1], cr.error[1], ref)
    centre = cr.density[1][6:10, 6:10, 6:10].sum() / ref[6:10, 6:10, 6:10].sum()
    centre_err = math.sqrt(np.sum(cr.error[1][6:10, 6:10, 6:10] ** 2)) / ref[6:10, 6:10, 6:10].sum()
    print(f"{mode}: chi2/dof {np.mean(p ** 2):.3f}, mean pull {p.mean():+.3f}, centre {centre:.4f} ± {centre_err:.4f}")
    assert good.sum() > 2000
    assert np.mean(p ** 2) < 1.2 and abs(p.mean()) < 0.15
    assert abs(centre - 1.0) < 3 * centre_err + 0.005


def test_kernel_and_numpy_engine_agree_in_distribution(ring_tables):
    """Ring field, ε = 0.1, Itô with ∇·S, cylinder: same table, independent random numbers — the mean
    residence time and the cell densities agree within their statistical errors."""
    grid = fpgal.Grid((-6, 6, 24), (-6, 6, 24), (-2, 2, 8), E_GeV=[1000.0])
    tab, _ = ring_tables

    def ring_source(xyz):
        r = np.hypot(xyz[:, 0], xyz[:, 1])
        return ((r > 2.0) & (r < 4.0) & (np.abs(xyz[:, 2]) < 0.5)).astype(float)
    runs = {k: steady_state(grid, tab, ring_source, lambda E: 1.0, n_particles=6000, seed=11 + i, step_kpc=0.1,
                            boundary=fpgal.Cylinder(5.5, 1.5), kernel=k, richardson=False, comm=None)
            for i, k in enumerate(("numba", "numpy"))}
    a, b = runs["numba"].meta, runs["numpy"].meta
    assert (a["kernel"], b["kernel"]) == ("numba", "numpy")
    diff = a["mean_residence_Myr"] - b["mean_residence_Myr"]
    sig = math.hypot(a["mean_residence_Myr_err"], b["mean_residence_Myr_err"])
    print(f"mean residence {a['mean_residence_Myr']:.3f} vs {b['mean_residence_Myr']:.3f} ± {sig:.3f} Myr")
    assert abs(diff) < 4 * sig and sig < 0.03 * b["mean_residence_Myr"]
    n = [np.asarray(runs[k].density[0]) for k in ("numba", "numpy")]
    err = [np.asarray(runs[k].error[0]) for k in ("numba", "numpy")]
    good = (err[1] > 0) & (err[1] < 0.2 * n[1]) & (err[0] > 0)
    pull = (n[0] - n[1])[good] / np.hypot(err[0], err[1])[good]
    print(f"cells: {good.sum()}, chi2/dof {np.mean(pull ** 2):.3f}, mean pull {pull.mean():+.3f}")
    assert good.sum() > 1000 and np.mean(pull ** 2) < 1.25 and abs(pull.mean()) < 0.2


def test_forced_numba_kernel_on_an_unsupported_set_up_names_the_reason():
    with pytest.raises(ValueError, match="lookup table"):
        steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=10, seed=1, step_kpc=0.1,
                     kernel="numba", richardson=False, comm=None)
    with pytest.raises(ValueError, match="kernel='fast'"):
        steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=10, seed=1, kernel="fast", comm=None)


def test_calls_in_pieces_give_the_same_run(ring_tables, monkeypatch):
    """run_residence_chunk cuts a chunk into compiled calls (so Ctrl-C is seen between them): the
    tallies and counts do not depend on the piece size."""
    from fpgal.sde import kernels
    tab, _ = ring_tables
    grid = fpgal.Grid((-6, 6, 12), (-6, 6, 12), (-2, 2, 4), E_GeV=[1000.0])
    x0 = _points(300, 9) * np.array([0.5, 0.5, 0.3])
    out = []
    for size in (1000, 64, 7):
        monkeypatch.setattr(kernels, "PARTICLES_PER_CALL", size)
        out.append(kernels.run_residence_chunk(x0, tab, "ito", 0.5 * 0.1 ** 2, 10 ** 6, fpgal.Cylinder(5.5, 1.5),
                                               grid, 5, np.random.default_rng(1)))
    for hist, info in out[1:]:
        np.testing.assert_array_equal(hist, out[0][0])
        assert info == out[0][1]
    assert out[0][1]["not_absorbed"] == 0 and out[0][0].sum() > 0
