"""Escape through the grid-box faces: second order with a tilted tensor, symmetric positive definite.

Manufactured solution (benchmarks/box_faces.py has the full table and the 60×45×30 box):
n = sin(πx/Lx) sin(πy/Ly) sin(πz/Lz) on [0, 4] × [0, 3] × [0, 2] kpc, D = D∥ (ε I + (1 − ε) b bᵀ),
Q = −∇·(D∇n) = Σ_i D_ii k_i² n − Σ_{i≠j} D_ij k_i k_j cos(k_i x_i) cos(k_j x_j) sin(k_m x_m), k_i = π/L_i.
The mixed terms do not vanish on the faces, so the anisotropic face flux is exercised; with the
face vertices' dual-cell weight ½ (operator.face_folded) the error falls as h² — with weight 1 it
fell as h (max error 0.158 / 0.080 / 0.042 at h = 0.5 / 0.25 / 0.125 kpc for b ∝ (1, 2, 2)).
"""
import numpy as np
import pytest

pytest.importorskip("petsc4py")

from fpgal import units
from fpgal.boundary import Box, Cylinder
from fpgal.diffusion import FieldAligned
from fpgal.fields import Uniform
from fpgal.grid import Grid
from fpgal.transport import stencil as op
from fpgal.transport import solve_steady

L_KPC = np.array([4.0, 3.0, 2.0])
D_PAR = 1.0e28


def _tensor(b, eps):
    bh = np.asarray(b, float) / np.linalg.norm(b)
    return D_PAR * (eps * np.eye(3) + (1 - eps) * np.outer(bh, bh))


def _source(D):
    k = np.pi / (L_KPC * units.kpc_cm)

    def Q(xyz):
        s, c = np.sin(np.pi * xyz / L_KPC), np.cos(np.pi * xyz / L_KPC)
        q = np.sum(np.diag(D) * k ** 2) * np.prod(s, axis=1)
        for i, j in ((0, 1), (0, 2), (1, 2)):
            q -= 2.0 * D[i, j] * k[i] * k[j] * c[:, i] * c[:, j] * s[:, 3 - i - j]
        return q
    return Q


def _max_error(m, b, eps):
    grid = Grid((0, 4, 8 * m), (0, 3, 6 * m), (0, 2, 4 * m), E_GeV=np.array([100.0]))
    cr = solve_steady(grid, FieldAligned(Uniform(b), eps, D_PAR), _source(_tensor(b, eps)), lambda E: 1.0,
                      source_points=1)
    exact = np.prod(np.sin(np.pi * grid.cell_centers_kpc() / L_KPC), axis=-1)
    return float(np.abs(cr.density[0] - exact).max()), cr


@pytest.mark.parametrize("b, eps, bound", [((1.0, 2.0, 2.0), 0.1, 0.012),   # tilted against every face
                                           ((1.0, 2.0, 0.5), 0.01, 0.02),
                                           ((0.0, 0.0, 1.0), 0.1, 0.012)])  # no mixed terms, R_zz at the z faces
def test_manufactured_tilted_tensor_second_order(b, eps, bound):
    errs = []
    for m in (2, 4):
        e, cr = _max_error(m, b, eps)
        errs.append(e)
        assert cr.meta["iterations"] < 30   # CG + GAMG: the operator is SPD and well preconditioned
    order = np.log2(errs[0] / errs[1])
    print(f"b={b} eps={eps}: max errors {errs} (h = 0.25, 0.125 kpc), observed order {order:.3f}")
    assert order >= 1.8
    assert errs[-1] < bound


def test_former_face_weight_was_first_order(monkeypatch):
    """The weight 1 (whole dual cell) puts the anisotropic face flux's n = 0 at h/4: order ≈ 1."""
    monkeypatch.setattr(op, "FACE_VERTEX_WEIGHT", 1.0)
    errs = [_max_error(m, (1.0, 2.0, 2.0), 0.1)[0] for m in (2, 4)]
    order = np.log2(errs[0] / errs[1])
    print("face weight 1:", errs, order)
    assert 0.7 < order < 1.2


def _csr_matrix(grid, boundary, D_vert):
    import scipy.sparse as sp
    box = op.LocalBox.full(grid)
    unknown_pad, in_grid_pad = op.unknown_mask_padded(grid, box, boundary.bind(grid))
    coef, _ = op.stencil(grid, box, D_vert, unknown_pad, in_grid_pad)
    nx, ny, nz = grid.shape
    lex = lambda i, j, k: np.clip(i, 0, nx - 1) + nx * (np.clip(j, 0, ny - 1) + ny * np.clip(k, 0, nz - 1))  # noqa: E731
    indptr, cols, vals = op.stencil_to_csr(coef, box, unknown_pad, lex)
    A = sp.csr_matrix((vals, cols, indptr), shape=(grid.n_cells, grid.n_cells))
    unk = unknown_pad[1:-1, 1:-1, 1:-1].ravel(order="F")   # rows in the lex order (x fastest)
    return A[unk][:, unk], coef   # the unknowns' block (the other rows are identity rows)


def _random_spd_vertices(grid, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=tuple(s + 1 for s in grid.shape) + (3, 3))
    return D_PAR * (np.einsum("...ij,...kj->...ik", A, A) + 0.05 * np.eye(3))


@pytest.mark.parametrize("boundary", [Box(), Cylinder(2.4, 1.0)])
def test_operator_symmetric_positive_definite(boundary):
    """Variable, strongly anisotropic SPD tensor at every vertex: A = Aᵀ to round-off, λ_min(A) > 0."""
    grid = Grid((-2.5, 2.5, 7), (-2.5, 2.5, 6), (-1.0, 1.0, 5), E_GeV=[100.0])
    A, _ = _csr_matrix(grid, boundary, _random_spd_vertices(grid, 7))
    dense = A.toarray()
    asym = np.abs(dense - dense.T).max() / np.abs(dense).max()
    eig = np.linalg.eigvalsh(0.5 * (dense + dense.T))
    print(f"{boundary!r}: |A - A^T|/|A| = {asym:.2e}, eigenvalues {eig[0]:.3e} ... {eig[-1]:.3e}")
    assert asym < 1e-14
    assert eig[0] > 1e-6 * eig[-1]


def test_face_treatment_touches_only_the_face_layer():
    """Rows of cells not adjacent to a box face equal those of a grid one cell larger on every side
    (where those cells are two layers deep), for a position-dependent tensor."""
    small = Grid((0.0, 3.0, 6), (0.0, 2.5, 5), (0.0, 2.0, 4), E_GeV=[100.0])
    big = Grid((-0.5, 3.5, 8), (-0.5, 3.0, 7), (-0.5, 2.5, 6), E_GeV=[100.0])

    def D_at_vertices(grid):
        v = grid.cell_corners_kpc()
        b = np.stack([1.0 + 0.3 * v[..., 2], 2.0 + 0.2 * v[..., 0] * v[..., 1], 1.5 + np.sin(v[..., 0])], axis=-1)
        b /= np.linalg.norm(b, axis=-1, keepdims=True)
        return D_PAR * (0.05 * np.eye(3) + 0.95 * b[..., :, None] * b[..., None, :])

    _, c_small = _csr_matrix(small, Box(), D_at_vertices(small))
    _, c_big = _csr_matrix(big, Box(), D_at_vertices(big))
    inner_small = c_small[:, 1:-1, 1:-1, 1:-1]
    inner_big = c_big[:, 2:-2, 2:-2, 2:-2]
    np.testing.assert_allclose(inner_small, inner_big, rtol=1e-12, atol=1e-12 * np.abs(c_big).max())
    # and the face layer does differ (the boundary treatment acts there)
    assert np.abs(c_small[:, 0] - c_big[:, 1, 1:-1, 1:-1]).max() > 1e-3 * np.abs(c_big).max()
