"""Finite-volume operator + PETSc solve: analytic solutions, convergence, conservation, bad input."""
import math

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from fpgal import units
from fpgal.boundary import Box, Cylinder
from fpgal.diffusion import BrokenPowerLaw, FieldAligned, Isotropic
from fpgal.fields import Uniform
from fpgal.grid import Grid
from fpgal.sources import GaussianBlob, cell_averages
from fpgal.transport import solve_steady
from fpgal.transport.diagnostics import particle_balance
from fpgal.transport.losses import Advection, CatastrophicRate, PPLosses

D_ISO = 3.0e28
L = np.array([4.0, 3.0, 2.0])  # box sides, kpc


class SineSource:
    """Q ∝ sin(πx/Lx) sin(πy/Ly) sin(πz/Lz) on [0, L]."""

    def __call__(self, xyz):
        return np.prod(np.sin(np.pi * xyz / L), axis=1)


def _sine_error(k):
    n = (8 * k, 6 * k, 5 * k)  # unequal nx, ny, nz (and unequal spacings)
    grid = Grid((0, L[0], n[0]), (0, L[1], n[1]), (0, L[2], n[2]), E_GeV=np.array([10.0, 100.0]))
    cr = solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 2.0, source_points=1)
    assert cr.meta["factorized"] is True
    lam = np.pi ** 2 * np.sum(1.0 / (L * units.kpc_cm) ** 2)
    exact = 2.0 * SineSource()(grid.cell_centers_kpc().reshape(-1, 3)).reshape(grid.shape) / (D_ISO * lam)
    err = np.abs(cr.density - exact[None]).max() / exact.max()
    return err, cr


def test_isotropic_sine_second_order():
    errs = []
    for k in (1, 2, 4):
        e, cr = _sine_error(k)
        errs.append(e)
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    print("sine errors", errs, "orders", orders)
    assert errs[-1] < 5e-3
    assert np.all((orders > 1.9) & (orders < 2.1))
    assert cr.meta["negative_cell_fraction"] == 0.0


class Ellipsoid:
    """Escape boundary ρ(x) = √(xᵀ D⁻¹ x)·√D∥ < ρ_b (an iso-surface of the free Green's function)."""

    def __init__(self, Dinv_kpc, rho_b):
        self.Dinv, self.rho_b = Dinv_kpc, rho_b

    def bind(self, grid):
        return self

    def check_grid(self, grid):
        pass

    def inside(self, xyz):
        return np.sqrt(np.einsum("ni,ij,nj->n", xyz, self.Dinv, xyz)) < self.rho_b


def _green_error(eps, n, half=6.0, rho_b=5.5):
    """Point-like source, uniform field b ∝ (1, 2, 0.5), absorbing ellipsoid ρ = ρ_b around it.

    Exact: n = Q/(4π √det D) (1/ρ − 1/ρ_b), ρ = √(rᵀD⁻¹r) (the free Green's function minus its
    value on the boundary). Compared where 1.5 < ρ√D∥ < 3.5 kpc (away from source and boundary).
    """
    b = np.array([1.0, 2.0, 0.5])
    b /= np.linalg.norm(b)
    grid = Grid((-half, half, n), (-half, half, n), (-half, half, n), E_GeV=np.array([100.0]))
    d_par = 1e28
    tensor = FieldAligned(Uniform(b), eps, d_par)
    Drel = eps * np.eye(3) + (1 - eps) * np.outer(b, b)
    D = Drel * d_par
    cr = solve_steady(grid, tensor, GaussianBlob((0, 0, 0), 0.2), lambda E: 1.0,
                      boundary=Ellipsoid(np.linalg.inv(Drel), rho_b))
    x = grid.cell_centers_kpc().reshape(-1, 3) * units.kpc_cm
    rho = np.sqrt(np.einsum("ni,ij,nj->n", x, np.linalg.inv(D), x))
    r_eff = rho * math.sqrt(d_par) / units.kpc_cm  # distance in "parallel kpc"
    # Q = source · 1 in cm⁻³ s⁻¹ with ∫source dV_kpc³ = 1, so the total rate is kpc_cm³ s⁻¹
    pref = units.kpc_cm ** 3 / (4 * np.pi * np.sqrt(np.linalg.det(D)))
    exact = pref * (1.0 / rho - math.sqrt(d_par) / (rho_b * units.kpc_cm))
    num = cr.density[0].reshape(-1)
    sel = (r_eff > 1.5) & (r_eff < 3.5)
    err = np.abs(num[sel] - exact[sel]).max() / exact[sel].max()
    l2 = np.sqrt(np.sum((num[sel] - exact[sel]) ** 2) / np.sum(exact[sel] ** 2))
    return err, l2, cr


@pytest.mark.parametrize("eps", [0.1, 0.01])
def test_tilted_green_function(eps):
    errs, l2s = [], []
    for n in (24, 36, 48):
        err, l2, cr = _green_error(eps, n)
        errs.append(err)
        l2s.append(l2)
        print(f"eps={eps} h={12 / n:.3f} kpc: max rel error {err:.4f}, L2 rel error {l2:.4f}, its "
              f"{cr.meta['iterations']}, negative cells {cr.meta['negative_cell_fraction']:.2e} "
              f"weight {cr.meta['negative_weight_fraction']:.2e}")
    assert l2s[-1] < l2s[0]
    assert l2s[-1] < (0.08 if eps == 0.1 else 0.35)


def test_conservation_with_losses_cylinder():
    grid = Grid((-5, 5, 20), (-5, 5, 20), (-2, 2, 10), E_GeV=np.array([100.0]))
    b = np.array([1.0, 1.0, 1.0]) / math.sqrt(3)
    tensor = FieldAligned(Uniform(b), 0.05, BrokenPowerLaw(3e28))
    src = GaussianBlob((1.0, -0.5, 0.2), 0.6)
    gas = lambda xyz: 1.0 + np.exp(-np.abs(xyz[:, 2]) / 0.2)  # noqa: E731
    losses = [PPLosses(gas, nuclear_factor=1.0), Advection(100.0)]
    boundary = Cylinder(4.5, 1.6)
    cr = solve_steady(grid, tensor, src, lambda E: 1.0, boundary=boundary, losses=losses)
    Q = cell_averages(src, grid, 2)
    bal = particle_balance(grid, tensor, cr.density[0], Q, 100.0, boundary, losses)
    print(bal)
    assert bal["catastrophic_losses"] > 0.05 * bal["injected"]
    assert bal["escape_advection"] > 0.01 * bal["injected"]
    assert abs(bal["relative_imbalance"]) < 1e-6


def test_conservation_box_factorized():
    grid = Grid((-3, 3, 12), (-3, 3, 14), (-2, 2, 8), E_GeV=np.array([10.0, 1000.0]))
    tensor = FieldAligned(Uniform((1.0, 2.0, 0.5)), 0.01, BrokenPowerLaw(3e28))
    src = GaussianBlob((0.3, 0.2, -0.1), 0.5)
    cr = solve_steady(grid, tensor, src, lambda E: E ** -2.0)
    assert cr.meta["factorized"] is True
    for k, E in enumerate(grid.E_GeV):
        bal = particle_balance(grid, tensor, cr.density[k], cell_averages(src, grid, 2) * E ** -2.0, E)
        assert abs(bal["relative_imbalance"]) < 1e-6
        assert bal["escape_anisotropic_part"] > bal["escape_isotropic_part"]


def test_energy_losses_match_factorized_without_losses():
    """A zero-rate catastrophic loss forces the per-energy path; it must equal the factorized one."""
    grid = Grid((-3, 3, 10), (-3, 3, 8), (-2, 2, 6), E_GeV=np.array([10.0, 100.0, 1000.0]))
    tensor = FieldAligned(Uniform((1.0, 0.3, 0.2)), 0.1, BrokenPowerLaw(3e28))
    src = GaussianBlob((0.0, 0.0, 0.0), 0.7)
    a = solve_steady(grid, tensor, src, lambda E: E ** -2.2, petsc_options={"ksp_rtol": "1e-12"})
    b = solve_steady(grid, tensor, src, lambda E: E ** -2.2, losses=CatastrophicRate(lambda x, E: 0.0),
                     petsc_options={"ksp_rtol": "1e-12"})
    assert a.meta["factorized"] and not b.meta["factorized"]
    np.testing.assert_allclose(b.density, a.density, rtol=1e-8, atol=1e-10 * np.abs(a.density).max())


def test_uniform_catastrophic_loss_analytic():
    """Isotropic D with a uniform loss rate Λ and the sine source: n = Q/(D λ1 + Λ)."""
    grid = Grid((0, L[0], 16), (0, L[1], 12), (0, L[2], 10), E_GeV=np.array([100.0]))
    lam = np.pi ** 2 * np.sum(1.0 / (L * units.kpc_cm) ** 2)
    rate = 2.0 * D_ISO * lam
    a = solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 1.0, source_points=1)
    b = solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 1.0, source_points=1,
                     losses=CatastrophicRate(lambda x, E: rate))
    ratio = b.density.sum() / a.density.sum()
    assert ratio == pytest.approx(1.0 / 3.0, rel=2e-2)


def test_continuous_losses_cooling_flux_conserved():
    """Injection in the top energy bin, cooling Ė = −1e-12 E GeV/s ≪ escape time: the particle flux
    through every energy-cell edge, F_{k−½} = |Ė(E_{k−½})| ∫n_k dV, equals the injected rate (minus
    the small escape), i.e. the upwind ∂_E(Ė n) is conservative and n ∝ 1/|Ė| below the injection."""
    from fpgal.transport.losses import ContinuousRate
    grid = Grid((-2, 2, 8), (-2, 2, 8), (-2, 2, 8), E_GeV=np.geomspace(10, 1000, 7))
    src = GaussianBlob((0, 0, 0), 0.5)
    top = grid.E_GeV[-1]
    spec = lambda E: 1.0 if E >= top else 0.0  # noqa: E731 - inject only at the top energy
    cr = solve_steady(grid, Isotropic(1e27), src, spec, losses=ContinuousRate(lambda x, E: -1e-12 * E),
                      petsc_options={"ksp_rtol": "1e-12"})
    E = grid.E_GeV
    mid = np.sqrt(E[1:] * E[:-1])
    edges = np.concatenate([[E[0] ** 2 / mid[0]], mid, [E[-1] ** 2 / mid[-1]]])
    N = cr.density.sum(axis=(1, 2, 3)) * grid.cell_volume_cm3
    F = 1e-12 * edges[:-1] * N
    injected = (edges[-1] - edges[-2]) * cell_averages(src, grid, 2).sum() * grid.cell_volume_cm3
    print(F / injected)
    assert np.all(F / injected < 1.0) and np.all(F / injected > 0.99)
    assert np.all(np.diff(F) > 0)  # a little escapes in every bin on the way down


# ------------------------------------------------------------------------------- bad input
def _small():
    return Grid((-2, 2, 6), (-2, 2, 6), (-1, 1, 4), E_GeV=np.array([100.0]))


def test_bad_inputs_raise_before_solve(monkeypatch):
    import fpgal.transport.solver as solver
    calls = []
    monkeypatch.setattr(solver.KrylovSolver, "solve", lambda self, *a, **k: calls.append(1))
    grid = _small()
    src = GaussianBlob((0, 0, 0), 0.5)
    nan_field = lambda xyz: np.where(xyz[:, :1] > 1.0, np.nan, 1.0) * np.ones_like(xyz)  # noqa: E731
    with pytest.raises(ValueError, match="NaN"):
        solve_steady(grid, FieldAligned(nan_field, 0.1, 1e28), src, lambda E: 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        solve_steady(grid, FieldAligned(Uniform(), 0.0, 1e28), src, lambda E: 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        solve_steady(grid, FieldAligned(Uniform(), 1.5, 1e28), src, lambda E: 1.0)
    with pytest.raises(ValueError, match="D0"):
        solve_steady(grid, FieldAligned(Uniform(), 0.1, BrokenPowerLaw(-1e28)), src, lambda E: 1.0)
    with pytest.raises(ValueError, match="empty source"):
        solve_steady(grid, Isotropic(1e28), GaussianBlob((50, 0, 0), 0.1), lambda E: 1.0)
    with pytest.raises(ValueError, match="does not fit"):
        solve_steady(grid, Isotropic(1e28), src, lambda E: 1.0, boundary=Cylinder(20, 4))
    with pytest.raises(ValueError, match="NaN"):
        solve_steady(grid, Isotropic(1e28), src, lambda E: float("nan"))
    with pytest.raises(ValueError, match="positive definite"):
        bad = lambda xyz, E: np.broadcast_to(np.diag([1e28, 1e28, -1e26]), (len(xyz), 3, 3))  # noqa: E731
        solve_steady(grid, bad, src, lambda E: 1.0)
    assert calls == []


def test_diverged_solver_raises_with_reason():
    from fpgal.transport import SolverDivergedError
    grid = Grid((-3, 3, 12), (-3, 3, 12), (-2, 2, 8), E_GeV=np.array([100.0]))
    tensor = FieldAligned(Uniform((1.0, 2.0, 0.5)), 0.01, 1e28)
    with pytest.raises(SolverDivergedError, match=r"DIVERGED_(MAX_)?ITS? .*after 2 iterations"):
        solve_steady(grid, tensor, GaussianBlob((0, 0, 0), 0.5), lambda E: 1.0,
                     petsc_options={"ksp_max_it": "2", "pc_type": "jacobi"})


def test_csr_columns_sorted_for_any_row_numbering():
    # the CSR builder skips its per-row sort when row numbers increase in (k, j, i) (one rank, z cuts);
    # a numbering that does not (x or y cuts) must give the same matrix with sorted columns
    from fpgal.boundary import Cylinder
    from fpgal.transport import stencil as op
    grid = Grid((-5, 5, 10), (-5, 5, 9), (-2, 2, 6), E_GeV=[100.0])
    box = op.LocalBox((0, 0, 0), grid.shape)
    unknown_pad, in_grid_pad = op.unknown_mask_padded(grid, box, Cylinder(4.5, 1.8).bind(grid))
    rng = np.random.default_rng(3)
    A = rng.normal(size=(11, 10, 7, 3, 3))
    D = np.einsum("...ij,...kj->...ik", A, A) + np.eye(3)
    coef, _ = op.stencil(grid, box, D, unknown_pad, in_grid_pad)
    n = int(np.prod(grid.shape))
    lex = lambda i, j, k: (np.clip(i, 0, 9) + 10 * (np.clip(j, 0, 8) + 9 * np.clip(k, 0, 5)))  # noqa: E731
    perm = np.random.default_rng(4).permutation(n)
    mats = []
    for numbering in (lex, lambda i, j, k: perm[lex(i, j, k)]):
        indptr, cols, vals = op.stencil_to_csr(coef, box, unknown_pad, numbering)
        rows = np.repeat(np.arange(n), np.diff(indptr))
        assert all(np.all(np.diff(cols[indptr[r]:indptr[r + 1]]) > 0) for r in range(n))
        dense = np.zeros((n, n))
        dense[rows, cols] = vals
        mats.append(dense)
    # rows are the box's cells in both cases; column c of the lexicographic matrix is column perm[c]
    np.testing.assert_array_equal(mats[1][:, perm], mats[0])


def test_energy_coupling_flag_set_by_the_solver_and_kept_in_the_file(tmp_path):
    """Continuous losses couple energies, so the solve must say so (``meta["energy_coupled"]``):
    the fit then reports its reweighting as approximate instead of exact. Catastrophic losses keep
    every energy independent and the flag false. The flag survives save/load."""
    from fpgal.analysis.fit import local_basis
    from fpgal.transport.losses import ContinuousRate
    from fpgal.result import CRDensity
    grid = Grid((-2, 2, 6), (-2, 2, 6), (-2, 2, 6), E_GeV=np.geomspace(10, 1000, 4))
    src = GaussianBlob((0, 0, 0), 0.5)
    spec = lambda E: E ** -2.0  # noqa: E731
    coupled = solve_steady(grid, Isotropic(1e28), src, spec, losses=ContinuousRate(lambda x, E: -1e-14 * E))
    local = solve_steady(grid, Isotropic(1e28), src, spec, losses=CatastrophicRate(lambda x, E: 1e-16))
    assert coupled.meta["energy_coupled"] is True and local.meta["energy_coupled"] is False
    loaded = CRDensity.load(coupled.save(tmp_path / "coupled.h5"))
    assert bool(loaded.meta["energy_coupled"]) is True
    near_center = (0.0, 0.0, 0.0)
    assert local_basis(loaded, spec, sun_kpc=near_center, radius_kpc=1.0).exact is False
    assert local_basis(local, spec, sun_kpc=near_center, radius_kpc=1.0).exact is True


@pytest.mark.parametrize("rows_per_chunk", [1, 90, 10 ** 6])
def test_streamed_row_chunks_give_the_csr_matrix(rows_per_chunk):
    """The streamed assembly (row chunks of whole z-layers, absent entries as column −1) holds
    exactly the entries of the CSR builder, scaled, for any chunk size; the PETSc matrix assembled
    from the chunks equals the one assembled from the CSR arrays."""
    from fpgal.boundary import Cylinder
    from fpgal.transport import stencil as op
    from fpgal.transport.solver import DistributedGrid, KrylovSolver
    grid = Grid((-5, 5, 10), (-5, 5, 9), (-2, 2, 6), E_GeV=[100.0])
    box = op.LocalBox((0, 0, 0), grid.shape)
    unknown_pad, in_grid_pad = op.unknown_mask_padded(grid, box, Cylinder(4.5, 1.8).bind(grid))
    rng = np.random.default_rng(5)
    A = rng.normal(size=(11, 10, 7, 3, 3))
    coef, _ = op.stencil(grid, box, np.einsum("...ij,...kj->...ik", A, A) + np.eye(3), unknown_pad, in_grid_pad)
    n = int(np.prod(grid.shape))
    lex = lambda i, j, k: (np.clip(i, 0, 9) + 10 * (np.clip(j, 0, 8) + 9 * np.clip(k, 0, 5)))  # noqa: E731
    indptr, cols, vals = op.stencil_to_csr(coef / 7.0, box, unknown_pad, lex)
    dense_csr = np.zeros((n, n))
    dense_csr[np.repeat(np.arange(n), np.diff(indptr)), cols] = vals
    dense_rows = np.zeros((n, n))
    seen = []
    for rows, c, v in op.stencil_row_chunks(coef, box, unknown_pad, lex, scale=7.0, rows_per_chunk=rows_per_chunk):
        keep = c >= 0
        dense_rows[np.broadcast_to(rows[:, None], c.shape)[keep], c[keep]] = v[keep]
        seen.append(rows)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(n))   # every row exactly once
    np.testing.assert_allclose(dense_rows, dense_csr, rtol=1e-15, atol=0)
    # the same matrix through PETSc (one rank, DMDA numbering)
    dgrid = DistributedGrid(grid)
    mats = []
    try:
        for how in ("csr", "rows"):
            ksp = KrylovSolver(dgrid)
            if how == "csr":
                ksp.set_operator(*op.stencil_to_csr(coef / 7.0, box, unknown_pad, dgrid.global_index))
            else:
                ksp.set_operator_rows(lambda with_values: op.stencil_row_chunks(
                    coef, box, unknown_pad, dgrid.global_index, scale=7.0, with_values=with_values,
                    rows_per_chunk=rows_per_chunk))
            ai, aj, av = ksp.A.getValuesCSR()
            mats.append((ai.copy(), aj.copy(), av.copy()))
            ksp.destroy()
    finally:
        dgrid.destroy()
    for a, b in zip(*mats):
        np.testing.assert_array_equal(a, b)


def test_loss_method_names_say_their_units_and_old_user_models_still_work():
    """Loss terms answer rate_per_s [s⁻¹] / Edot_GeV_per_s [GeV s⁻¹]; a user model written with the
    earlier names (rate_s) gives the same solution; a term without the method is refused by name."""
    from fpgal.transport.losses import ContinuousRate, loss_rate_per_s
    grid = Grid((0, L[0], 8), (0, L[1], 6), (0, L[2], 5), E_GeV=np.array([100.0]))

    class OldStyle:
        kind = "catastrophic"

        def rate_s(self, xyz_kpc, E_GeV):
            return np.full(len(xyz_kpc), 2e-15)

    new = CatastrophicRate(lambda x, E: 2e-15)
    assert loss_rate_per_s(new, np.zeros((2, 3)), 1.0).tolist() == [2e-15, 2e-15] == new.rate_s(np.zeros((2, 3)), 1.0).tolist()
    assert ContinuousRate(lambda x, E: -1.0).Edot_GeV_per_s(np.zeros((1, 3)), 1.0)[0] == -1.0
    a = solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 1.0, losses=new)
    b = solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 1.0, losses=OldStyle())
    np.testing.assert_allclose(a.density, b.density, rtol=1e-9)

    class Nameless:
        kind = "catastrophic"

    with pytest.raises(TypeError, match="no method rate_per_s"):
        solve_steady(grid, Isotropic(D_ISO), SineSource(), lambda E: 1.0, losses=Nameless())


def test_user_loss_terms_take_their_documented_keywords():
    """CatastrophicRate(rate=…) and ContinuousRate(edot=…): the keywords of the docs, same values as positional."""
    from fpgal.transport.losses import CatastrophicRate, ContinuousRate
    xyz = np.array([[1.0, 2.0, 0.5], [-3.0, 0.0, 0.1]])
    rate = CatastrophicRate(rate=lambda x, E: 1e-15 * (1 + x[:, 0] ** 2))
    edot = ContinuousRate(edot=lambda x, E: -1e-16 * E * np.ones(len(x)))
    np.testing.assert_allclose(rate.rate_per_s(xyz, 10.0), [2e-15, 1e-14], rtol=1e-14)
    np.testing.assert_array_equal(edot.Edot_GeV_per_s(xyz, 10.0), [-1e-15, -1e-15])
    with pytest.raises(ValueError, match="non-negative"):
        CatastrophicRate(rate=lambda x, E: -np.ones(len(x))).rate_per_s(xyz, 10.0)
