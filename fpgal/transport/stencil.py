"""Finite-volume discretisation of −∇·(D ∇n) on the cell-centred grid (rank-local, vectorised).

Scheme ("split", the default): write the tensor as ``D = λ I + R`` with λ(x) the smallest
eigenvalue of D (for a field-aligned tensor λ = D⊥ and R = (D∥ − D⊥) b bᵀ, R ⪰ 0). Then

* the isotropic part λ I uses the compact 7-point two-point flux: through the face f between
  cells c and c' the flux is ``F = λ_f (n_c − n_c')/h`` (λ_f = mean of λ at the four corners of
  the face);
* the anisotropic remainder R uses the symmetric vertex ("corner") scheme of Günter et al. (2005,
  JCP 209, 354): at every vertex v the gradient is taken from the 8 surrounding cells,
  ``g_v = G n``, ``G[i, a] = s_i(a)/(4 h_i)`` with s_i(a) = ±1 the side of cell a along axis i,
  and the discrete operator is ``A = Σ_v Gᵀ R_v G`` (per unit cell volume).

Both parts are symmetric positive (semi-)definite; the 7-point part with λ > 0 and a Dirichlet
boundary makes the sum SPD, so CG + algebraic multigrid apply. The operator is conservative:
every row sums the fluxes out of its cell.

Boundary conditions (n = 0 where CRs escape):

* cells whose centre lies outside the boundary (``boundary.inside``) are not unknowns, n = 0 at
  their centre (staircase, O(h));
* at the faces of the grid box n = 0 on the face itself: the 7-point flux uses the distance
  h/2, and the vertex scheme uses ghost cells equal to minus their mirror images (odd
  reflection), which at a face vertex keeps only the normal gradient, doubled
  (:func:`face_multipliers`); a face vertex's term carries the weight ½ because only half of its
  dual cell lies inside the box (:func:`face_folded`). The operator stays symmetric positive
  definite and second-order accurate (manufactured tilted-tensor solution: observed order 2,
  tests/transport/test_box_faces.py); the weight 1 used before placed the anisotropic face
  flux at h/4 instead of h/2 and made it first order.

The coefficients are returned as a 27-point stencil ``coef[o, i, j, k]`` (offset index
``o = 9(ox+1) + 3(oy+1) + (oz+1)``) over the rank-local box of cells, in s⁻¹ (operator per cm³:
``(L n)_c = Σ_o coef[o, c] n_{c+o}``, so that ``L n = Q`` with Q in cm⁻³ s⁻¹).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core import units
from ..core.grid import Grid

OFFSETS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int64)  # (27, 3)
CENTER = 13
SCHEMES = ("split", "corner")


def offset_index(ox: int, oy: int, oz: int) -> int:
    return 9 * (ox + 1) + 3 * (oy + 1) + (oz + 1)


@dataclass(frozen=True)
class LocalBox:
    """Rank-owned cells ``[lo[a], hi[a])`` (global indices) along each axis."""

    lo: tuple[int, int, int]
    hi: tuple[int, int, int]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(h - l) for l, h in zip(self.lo, self.hi))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @classmethod
    def full(cls, grid: Grid) -> "LocalBox":
        return cls((0, 0, 0), tuple(grid.shape))


def vertex_points_kpc(grid: Grid, box: LocalBox) -> np.ndarray:
    """Vertices of the box's cells, shape (lx+1, ly+1, lz+1, 3), kpc."""
    axes = [grid.edges_kpc(a)[box.lo[a]:box.hi[a] + 1] for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def cell_points_kpc(grid: Grid, box: LocalBox, pad: int = 0) -> np.ndarray:
    """Cell centres of the box (plus ``pad`` layers, possibly outside the grid), (…, 3) kpc."""
    h = grid.spacing_kpc
    axes = [grid.lower_kpc[a] + (np.arange(box.lo[a] - pad, box.hi[a] + pad) + 0.5) * h[a] for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def unknown_mask_padded(grid: Grid, box: LocalBox, boundary) -> tuple[np.ndarray, np.ndarray]:
    """(unknown, in_grid) masks over the box plus one layer: unknown = inside the grid and the boundary."""
    pts = cell_points_kpc(grid, box, pad=1)
    shp = pts.shape[:3]
    idx = [np.arange(box.lo[a] - 1, box.hi[a] + 1) for a in range(3)]
    in_grid = ((idx[0] >= 0) & (idx[0] < grid.shape[0]))[:, None, None] \
        & ((idx[1] >= 0) & (idx[1] < grid.shape[1]))[None, :, None] \
        & ((idx[2] >= 0) & (idx[2] < grid.shape[2]))[None, None, :]
    inside = np.asarray(boundary.inside(pts.reshape(-1, 3)), dtype=bool).reshape(shp)
    return inside & in_grid, in_grid


def split_isotropic(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D = λ I + R``: λ = smallest eigenvalue (N,), R = D − λ I (N,3,3), positive semi-definite."""
    lam = np.linalg.eigvalsh(D)[:, 0]
    R = D - lam[:, None, None] * np.eye(3)
    return lam, R


def stencil(grid: Grid, box: LocalBox, D_vert_cm2_s: np.ndarray, unknown_pad: np.ndarray, in_grid_pad: np.ndarray,
            scheme: str = "split") -> tuple[np.ndarray, dict]:
    """27-point stencil (27, lx, ly, lz) in s⁻¹ of −∇·(D∇n) for the unknown cells of ``box``.

    ``D_vert_cm2_s``: the tensor at the box's vertices, (lx+1, ly+1, lz+1, 3, 3) in cm²/s.
    Rows of non-unknown cells are left zero (the caller turns them into identity rows); columns of
    non-unknown neighbours are dropped (n = 0 there).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"operator scheme {scheme!r}: expected one of {SCHEMES}")
    h = grid.spacing_kpc * units.kpc_cm
    lam, R = vertex_parts(D_vert_cm2_s, grid, box, scheme)
    coef = np.zeros((27,) + box.shape)
    info = {"min_lambda_cm2_s": float(lam.min()) if lam.size else 0.0}
    _add_isotropic_part(coef, lam, h, box, unknown_pad, in_grid_pad)
    if np.any(R != 0.0):
        _add_anisotropic_part(coef, R, h, box, unknown_pad)
    coef *= unknown_pad[1:-1, 1:-1, 1:-1][None]
    return coef, info


def vertex_parts(D_vert_cm2_s: np.ndarray, grid: Grid, box: LocalBox,
                 scheme: str = "split") -> tuple[np.ndarray, np.ndarray]:
    """λ (lx+1, ly+1, lz+1) and the face-folded remainder R (lx+1, ly+1, lz+1, 3, 3) at the box's vertices.

    ``scheme="split"``: ``D = λ I + R`` with λ the smallest eigenvalue (:func:`split_isotropic`); any other
    scheme (the plain corner scheme): λ = 0 and R = D. R is then weighted at the grid faces
    (:func:`face_folded`).
    """
    shp_v = tuple(s + 1 for s in box.shape)
    Dv = D_vert_cm2_s.reshape(-1, 3, 3)
    if scheme == "split":
        lam, R = split_isotropic(Dv)
    else:  # the plain symmetric corner scheme with the full tensor on the vertices
        lam, R = np.zeros(len(Dv)), Dv.copy()   # copy: face_folded works in place
    return lam.reshape(shp_v), face_folded(R.reshape(shp_v + (3, 3)), grid, box)


def face_lambda(lam: np.ndarray, axis: int, shape: tuple[int, int, int]) -> np.ndarray:
    """λ_f on every vertex plane normal to ``axis``: the mean of λ at the four vertices of each face.

    ``lam`` is (lx+1, ly+1, lz+1) at the vertices of a box of ``shape`` cells; the result has all
    n_axis + 1 planes along ``axis`` (plane p is the face between cells p−1 and p).
    """
    others = [a for a in range(3) if a != axis]
    lam_f = 0.0
    for d0, d1 in itertools.product((0, 1), repeat=2):
        sl = [slice(None)] * 3
        sl[others[0]] = slice(d0, d0 + shape[others[0]])
        sl[others[1]] = slice(d1, d1 + shape[others[1]])
        lam_f = lam_f + 0.25 * lam[tuple(sl)]
    return lam_f


def _add_isotropic_part(coef: np.ndarray, lam: np.ndarray, h: np.ndarray, box: LocalBox, unknown_pad: np.ndarray,
                        in_grid_pad: np.ndarray) -> None:
    """Add λ I's 7-point two-point fluxes ``λ_f (n_c − n_c')/h²`` to ``coef`` (in place).

    n = 0 on the grid face (distance h/2, weight 2) or at the centre of an exterior cell (distance h).
    """
    for axis in range(3):
        lam_planes = face_lambda(lam, axis, box.shape)
        for side in (-1, 1):
            # face: along `axis` the vertex plane i (side −1) or i+1 (side +1)
            sl = [slice(None)] * 3
            sl[axis] = slice(0, -1) if side < 0 else slice(1, None)
            w = lam_planes[tuple(sl)] / h[axis] ** 2
            o = [0, 0, 0]
            o[axis] = side
            nb = tuple(slice(1 + o[a], 1 + o[a] + box.shape[a]) for a in range(3))
            coef[CENTER] += np.where(in_grid_pad[nb], w, 2.0 * w)
            coef[offset_index(*o)] -= np.where(unknown_pad[nb], w, 0.0)


def _add_anisotropic_part(coef: np.ndarray, R: np.ndarray, h: np.ndarray, box: LocalBox,
                          unknown_pad: np.ndarray) -> None:
    """Add R's symmetric vertex scheme to ``coef`` (in place).

    Σ_ij R_ij s_i(a) s_j(b)/(16 h_i h_j) for every pair of corners (a, b) of a vertex, as one
    (cells × 9) @ (9 × 8) product per corner a (Günter et al. 2005).
    """
    lx, ly, lz = box.shape
    bits = list(itertools.product((0, 1), repeat=3))
    signs = 2.0 * np.array(bits) - 1.0                                   # (8, 3): s_i(corner)
    inv_h = 1.0 / h
    R_flat = R.reshape(-1, 9)
    for ia, a in enumerate(bits):
        W = np.einsum("i,j,bj->bij", signs[ia] * inv_h, inv_h, signs).reshape(8, 9) / 16.0
        # at every vertex, then the vertices shared with neighbours b where the cell sits at corner a
        V_all = (W @ R_flat.T).reshape(8, lx + 1, ly + 1, lz + 1)
        vs = tuple(slice(1 - a[d], 1 - a[d] + box.shape[d]) for d in range(3))
        V = V_all[(slice(None),) + vs]
        for ib, b in enumerate(bits):
            o = tuple(int(b[d] - a[d]) for d in range(3))
            if o == (0, 0, 0):
                coef[CENTER] += V[ib]
            else:
                nb = tuple(slice(1 + o[d], 1 + o[d] + box.shape[d]) for d in range(3))
                coef[offset_index(*o)] += np.where(unknown_pad[nb], V[ib], 0.0)


def face_multipliers(grid: Grid, box: LocalBox) -> np.ndarray:
    """m_i(v) (lx+1, ly+1, lz+1, 3) of the odd (n = 0 on the face) reflection at the grid faces.

    With ghost cells beyond a box face set to minus their mirror images, the vertex gradient at a
    vertex on one face normal to axis d keeps only its normal component, doubled: G_eff = M G with
    M = diag(m), m_d = 2 and m_i = 0 (i ≠ d); on an edge or corner of the box all m_i = 0; inside
    m_i = 1. The vertex term then reads Gᵀ (M R M) G with the ghost columns dropped.
    """
    on = []
    for d in range(3):
        I = np.arange(box.lo[d], box.hi[d] + 1)
        on.append((I == 0) | (I == grid.shape[d]))
    F = [np.zeros((box.shape[0] + 1, box.shape[1] + 1, box.shape[2] + 1), dtype=bool) for _ in range(3)]
    F[0][:] = on[0][:, None, None]
    F[1][:] = on[1][None, :, None]
    F[2][:] = on[2][None, None, :]
    nfaces = F[0].astype(int) + F[1] + F[2]
    m = np.ones(nfaces.shape + (3,))
    for d in range(3):
        m[..., d] = np.where(nfaces == 0, 1.0, np.where((nfaces == 1) & F[d], 2.0, 0.0))
    return m


FACE_VERTEX_WEIGHT = 0.5   # share of a box-face vertex's dual cell (h_x h_y h_z) that lies inside the box


def face_folded(R: np.ndarray, grid: Grid, box: LocalBox) -> np.ndarray:
    """``w M R M`` at the vertices, in place: M = I, w = 1 except on the grid faces.

    The vertex scheme is the quadrature ``Σ_v w_v g_vᵀ R_v g_v`` of the energy ∫ ∇n·R∇n dV, with
    w_v the fraction of vertex v's dual cell inside the box. With the odd reflection
    (:func:`face_multipliers`) a face vertex has ``g_v = M G n`` and ``w_v = ½``
    (:data:`FACE_VERTEX_WEIGHT`): the normal-normal entry becomes ``½·2·2 R_nn = 2 R_nn``, i.e. the
    normal flux ``R_nn n̄/(h/2)`` through the face from the mean n̄ of the 4 cells at the vertex,
    and the mixed entries vanish (the tangential gradient is zero on the face, where n = 0).
    On box edges and corners M = 0 (the whole gradient vanishes there), whatever w.
    The weight 1 (the whole dual cell) would double R_nn, i.e. put n = 0 at h/4 from the face
    centres instead of h/2: first order (max error 0.080 / 0.042 / 0.023 on the manufactured
    solution with b ∝ (1, 2, 2), ε = 0.1 at h = 0.25 / 0.125 / 0.067 kpc; now 0.039 / 0.0094 / 0.0027,
    order 2; ``benchmarks/box_faces.py``).
    """
    m = face_multipliers(grid, box)
    on_face = np.any(m != 1.0, axis=-1)
    mf = m[on_face]
    R[on_face] *= FACE_VERTEX_WEIGHT * mf[:, :, None] * mf[:, None, :]
    return R


def tensor_at_vertices(tensor: Callable, grid: Grid, box: LocalBox, E_GeV: float | None) -> np.ndarray:
    """Evaluate ``tensor(x, E)`` (or ``tensor.spatial(x)`` when E is None) at the box's vertices."""
    from ..model.diffusion import evaluate_tensor
    pts = vertex_points_kpc(grid, box)
    shp = pts.shape[:3]
    flat = pts.reshape(-1, 3)
    if E_GeV is None:
        D = np.asarray(tensor.spatial(flat), dtype=float)
        if D.shape != (len(flat), 3, 3) or not np.all(np.isfinite(D)):
            raise ValueError(f"tensor {tensor!r}: spatial() must return finite (N, 3, 3), got {D.shape}")
    else:
        D = evaluate_tensor(tensor, flat, E_GeV)
    return D.reshape(shp + (3, 3))


# the offsets in increasing PETSc column order (x fastest, then y, then z) wherever rows are numbered
# monotonically in (k, j, i) — one rank, or ranks cut along z only
_COLUMN_ORDER = np.lexsort((OFFSETS[:, 0], OFFSETS[:, 1], OFFSETS[:, 2]))


def stencil_to_csr(coef: np.ndarray, box: LocalBox, unknown_pad: np.ndarray, global_index: Callable,
                   dirichlet_diag: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local CSR rows (PETSc ordering: x fastest within the box) with global column indices, sorted.

    ``global_index(i, j, k)`` maps global cell indices to the solver's row numbers. Rows of
    non-unknown cells become ``dirichlet_diag`` on the diagonal (their right-hand side is 0).
    Column indices come out sorted within each row: directly when the row numbering increases
    with (k, j, i) (one rank, or ranks cut along z only), otherwise by a per-row sort.
    """
    lx, ly, lz = box.shape
    L = box.size
    unk = unknown_pad[1:-1, 1:-1, 1:-1]
    halo = [np.arange(box.lo[a] - 1, box.hi[a] + 1) for a in range(3)]
    row_pad = global_index(*np.meshgrid(*halo, indexing="ij"))   # clipped into the grid; masked below
    # 32-bit column indices where they fit (PETSc's default index type: no conversion copy later)
    index_type = np.int32 if row_pad.size == 0 or row_pad.max() < np.iinfo(np.int32).max else np.int64
    cols = np.empty((L, 27), dtype=index_type)   # one row per cell (x fastest), one column per offset
    vals = np.empty((L, 27))
    valid = np.empty((L, 27), dtype=bool)
    for n, o in enumerate(_COLUMN_ORDER):
        ox, oy, oz = OFFSETS[o]
        nb = (slice(1 + ox, 1 + ox + lx), slice(1 + oy, 1 + oy + ly), slice(1 + oz, 1 + oz + lz))
        cols[:, n] = row_pad[nb].ravel(order="F")
        if o == CENTER:
            vals[:, n] = np.where(unk, coef[o], dirichlet_diag).ravel(order="F")
            valid[:, n] = True
        else:
            vals[:, n] = coef[o].ravel(order="F")
            valid[:, n] = (unknown_pad[nb] & unk & (coef[o] != 0.0)).ravel(order="F")
    if not _numbering_increasing(row_pad, unknown_pad):  # e.g. ranks cut along x or y: sort each row
        order = np.argsort(np.where(valid, cols, np.iinfo(index_type).max), axis=1, kind="stable")
        cols, vals, valid = (np.take_along_axis(a, order, axis=1) for a in (cols, vals, valid))
    indptr = np.zeros(L + 1, dtype=index_type)
    np.cumsum(valid.sum(axis=1), out=indptr[1:])
    return indptr, cols[valid], vals[valid]


def _numbering_increasing(row_pad: np.ndarray, unknown_pad: np.ndarray) -> bool:
    """Whether the row numbers of the unknown cells of the padded box increase in (k, j, i) order.

    Then the valid columns of every row, visited in ``_COLUMN_ORDER``, are already sorted: they are
    unknown cells at increasing (k, j, i) positions.
    """
    rows = row_pad.ravel(order="F")[unknown_pad.ravel(order="F")]
    return bool(np.all(np.diff(rows) > 0))


def apply_stencil(coef: np.ndarray, n_pad: np.ndarray) -> np.ndarray:
    """``(L n)`` on the box from a padded (lx+2, ly+2, lz+2) array of n (zeros where not unknown)."""
    lx, ly, lz = coef.shape[1:]
    out = np.zeros((lx, ly, lz))
    for o, (ox, oy, oz) in enumerate(OFFSETS):
        out += coef[o] * n_pad[1 + ox:1 + ox + lx, 1 + oy:1 + oy + ly, 1 + oz:1 + oz + lz]
    return out


def stencil_row_chunks(coef: np.ndarray, box: LocalBox, unknown_pad: np.ndarray, global_index: Callable,
                       scale: float = 1.0, dirichlet_diag: float = 1.0, with_values: bool = True,
                       rows_per_chunk: int = 1 << 17):
    """The operator's local rows in chunks of whole z-layers, for streaming into a PETSc matrix.

    Yields ``(rows (n,), cols (n, 27), vals (n, 27) or None)``: global row numbers of n consecutive
    local cells (PETSc ordering, x fastest) and their 27 stencil columns, entries that are not part
    of the matrix marked by column −1 (PETSc's MatSetValues skips negative columns). Values are
    ``coef / scale``; rows of non-unknown cells hold ``dirichlet_diag`` on the diagonal. Only one
    chunk of temporaries lives at a time (≈ 0.1 GB at the default size), so the assembly never holds
    the 27 × cells CSR arrays next to PETSc's copy.
    """
    lx, ly, lz = box.shape
    per_layer = max(lx * ly, 1)
    layers = max(1, rows_per_chunk // per_layer)
    halo = [np.arange(box.lo[a] - 1, box.hi[a] + 1) for a in range(3)]
    for k0 in range(0, lz, layers):
        k1 = min(k0 + layers, lz)
        row_pad = global_index(*np.meshgrid(halo[0], halo[1], halo[2][k0:k1 + 2], indexing="ij"))
        index_type = np.int32 if row_pad.max() < np.iinfo(np.int32).max else np.int64
        upad = unknown_pad[:, :, k0:k1 + 2]
        unk = upad[1:-1, 1:-1, 1:-1]
        n = lx * ly * (k1 - k0)
        cols = np.empty((n, 27), dtype=index_type)
        vals = np.empty((n, 27)) if with_values else None
        for o in range(27):
            ox, oy, oz = OFFSETS[o]
            nb = (slice(1 + ox, 1 + ox + lx), slice(1 + oy, 1 + oy + ly), slice(1 + oz, 1 + oz + k1 - k0))
            c = coef[o, :, :, k0:k1]
            if o == CENTER:
                valid = np.ones(unk.shape, dtype=bool)
            else:
                valid = upad[nb] & unk & (c != 0.0)
            cols[:, o] = np.where(valid, row_pad[nb], -1).ravel(order="F")
            if with_values:
                v = np.where(unk, c / scale, dirichlet_diag) if o == CENTER else c / scale
                vals[:, o] = v.ravel(order="F")
        yield row_pad[1:-1, 1:-1, 1:-1].ravel(order="F").astype(index_type), cols, vals
