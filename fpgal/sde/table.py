"""A lookup table of a separable tensor's spatial part S(x) and its divergence ∇·S (trilinear).

Field models such as UF23 cost ~µs per point, and the Itô step needs S and ∇·S (7 field calls by
central differences) every step. :func:`tabulate` evaluates S once on a regular node lattice of
spacing h_t, takes ∇·S there by second-order central differences (``numpy.gradient``, O(h_t²),
one-sided O(h_t²) at the lattice faces) and interpolates both trilinearly (O(h_t²) in smooth regions).

Accuracy trade-off: the particles then diffuse in the *interpolated* tensor, which differs from the
model by O(h_t² ∂²S); the drift is the divergence of (nearly) the same interpolated tensor, so the
SDE stays consistent with that tensor. Structure below ~2 h_t (thin field reversals, sharp
logistic transitions of JF12, the UF23 disk-halo transition) is smoothed. The grid solver has the
same limitation at its own cell size, so a table with h_t ≤ half the grid spacing does not limit a
grid-vs-SDE comparison. Trilinear interpolation of the six components keeps S symmetric and positive
definite (convex combination of positive definite matrices). S depends on b bᵀ only, so it does not
carry the field's sign; CRPropa mode, which traces the signed field line, reads
:class:`TabulatedFrame` instead (signed b, d∥, d⊥; :func:`tabulate_frame`).

Memory: 9 float64 per node (72 B; the frame table 5, 40 B); a 40×40×8 kpc box at h_t = 0.1 kpc holds
1.3e7 nodes ≈ 0.9 GB (frame 0.5 GB), at 0.125 kpc 0.47 GB. Pass ``dtype=np.float32`` to halve it (S to 1e-7 relative).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.log import get_logger
from ..core.interp import trilinear
from ..core.points import as_points

log = get_logger(__name__)

_IU = (0, 0, 0, 1, 1, 2)
_JU = (0, 1, 2, 1, 2, 2)


class _NodeTable:
    """Values on a regular node lattice (nx, ny, nz, m) with node (i, j, k) at lower + (i, j, k)·spacing,
    a separable tensor's energy factor, and trilinear interpolation (nearest face outside)."""

    def __init__(self, energy_factor, lower_kpc, spacing_kpc, values: np.ndarray, source_repr: str = ""):
        self._energy_factor = energy_factor
        self.lower_kpc = np.asarray(lower_kpc, dtype=float)
        self.spacing_kpc = np.asarray(spacing_kpc, dtype=float)
        self.shape = tuple(values.shape[:3])
        self.values = np.ascontiguousarray(values)
        self.source_repr = source_repr

    def energy_factor(self, E_GeV: float) -> float:
        return float(self._energy_factor(E_GeV))

    def _interp(self, xyz_kpc: np.ndarray) -> np.ndarray:
        # nodes are the centres of cells of the same spacing starting half a spacing lower
        return trilinear(self.values, self.lower_kpc - 0.5 * self.spacing_kpc, self.spacing_kpc,
                         as_points(xyz_kpc), outside=None)

    def __call__(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self.energy_factor(E_GeV) * self.spatial(xyz_kpc)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.source_repr}, {'x'.join(map(str, self.shape))} nodes, "
                f"spacing_kpc={self.spacing_kpc.tolist()})")


class TabulatedTensor(_NodeTable):
    """Separable tensor ``energy_factor(E) * S_table(x)`` with ``divergence`` from the table.

    Build it with :func:`tabulate`. Node values (nx, ny, nz, 9): S_xx, S_xy, S_xz, S_yy, S_yz, S_zz,
    (∇·S)_x,y,z [kpc⁻¹]. Outside the tabulated box the values of the nearest face are used.
    """

    def _unpack(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        S = np.empty((len(v), 3, 3))
        for k, (i, j) in enumerate(zip(_IU, _JU)):
            S[:, i, j] = v[:, k]
            S[:, j, i] = v[:, k]
        return S, v[:, 6:9]

    def spatial(self, xyz_kpc: np.ndarray) -> np.ndarray:
        return self._unpack(self._interp(xyz_kpc))[0]

    def spatial_and_divergence(self, xyz_kpc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(S (N,3,3), ∇·S (N,3) kpc⁻¹) in one interpolation."""
        return self._unpack(self._interp(xyz_kpc))

    def divergence(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        """∇·D in cm²/s per kpc."""
        return self.energy_factor(E_GeV) * self._interp(xyz_kpc)[:, 6:9]


class TabulatedFrame(_NodeTable):
    """Field-aligned separable tensor ``energy_factor(E) [d⊥ I + (d∥ − d⊥) b bᵀ]`` from a node lattice of
    the *signed* direction b and the relative coefficients d∥, d⊥ (trilinear, b renormalised after
    interpolation; where the interpolated b vanishes — a reversal exactly between nodes — b = ẑ).

    Build it with :func:`tabulate_frame`. It is what CRPropa mode (which traces the signed field line)
    interpolates; 5 values per node (40 B in float64). Outside the lattice the nearest face is used.
    """

    def frame(self, xyz_kpc: np.ndarray):
        """(b (N,3) unit, d∥ (N,), d⊥ (N,)) by trilinear interpolation."""
        v = self._interp(xyz_kpc)
        b = v[:, 0:3]
        norm = np.linalg.norm(b, axis=1)
        ok = norm > 0
        b = np.where(ok[:, None], b / np.where(ok, norm, 1.0)[:, None], np.array([0.0, 0.0, 1.0]))
        return b, v[:, 3].copy(), v[:, 4].copy()

    def spatial(self, xyz_kpc: np.ndarray) -> np.ndarray:
        from ..model.diffusion import frame_tensor
        return frame_tensor(*self.frame(xyz_kpc))


class TabulatedFrameDivergence(TabulatedFrame):
    """:class:`TabulatedFrame` plus ∇·S [kpc⁻¹] on the same nodes (8 values per node, 64 B): the Itô
    mode's table for field-aligned tensors. The particles diffuse in S = d⊥ I + (d∥ − d⊥) b̂ b̂ᵀ built
    from the interpolated, renormalised b̂, so the anisotropy stays exactly d⊥/d∥ = ε between nodes.
    (Interpolating S itself averages b bᵀ of differently oriented nodes, which adds a perpendicular
    part ~ (h_t/R_curv)²: on UF23 with h_t = 0.125 kpc it makes the mean perpendicular coefficient
    1.02 ε at ε = 0.1 but 1.2 ε at ε = 0.01 and 3.0 ε at ε = 1e-3.) ∇·S is the central difference of
    the model's S on the nodes (O(h_t²)), interpolated trilinearly."""

    def divergence(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        """∇·D in cm²/s per kpc."""
        return self.energy_factor(E_GeV) * self._interp(xyz_kpc)[:, 5:8]


def _node_divergence(S: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(∇·S)_i = Σ_j ∂_j S_ij on the nodes (n0, n1, n2, 3, 3) by second-order differences (one-sided
    second order at the faces)."""
    n = S.shape[:3]
    div = np.zeros((*n, 3))
    for j in range(3):
        if n[j] >= 3:
            div += np.gradient(S[..., :, j], step[j], axis=j, edge_order=2)
        elif n[j] == 2:
            div += np.gradient(S[..., :, j], step[j], axis=j)
    return div


def _lattice(lower_kpc, upper_kpc, spacing_kpc: float, owner: str):
    """Node axes spanning [lower, upper] with at most ``spacing_kpc`` between nodes: (lo, step, n, nodes)."""
    lo = np.asarray(lower_kpc, dtype=float)
    hi = np.asarray(upper_kpc, dtype=float)
    h = float(spacing_kpc)
    if not (math.isfinite(h) and h > 0) or np.any(hi <= lo):
        raise ValueError(f"{owner}: need lower_kpc < upper_kpc and spacing_kpc > 0, got {lo}, {hi}, {spacing_kpc}")
    n = np.maximum(np.ceil((hi - lo) / h).astype(int), 1) + 1
    step = (hi - lo) / (n - 1)
    axes = [lo[a] + step[a] * np.arange(n[a]) for a in range(3)]
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return lo, step, n, nodes


def tabulate_frame(tensor, lower_kpc, upper_kpc, spacing_kpc: float, dtype=np.float64,
                   batch: int = 1 << 18, divergence: bool = False) -> TabulatedFrame:
    """Tabulate a field-aligned tensor's frame (signed b, d∥, d⊥ relative to its energy factor) on nodes
    spanning ``[lower_kpc, upper_kpc]`` with at most ``spacing_kpc`` between nodes; with ``divergence``
    also ∇·S of the model's S on the nodes (:class:`TabulatedFrameDivergence`, the Itô mode's table)."""
    if not callable(getattr(tensor, "frame", None)) or not callable(getattr(tensor, "energy_factor", None)):
        raise TypeError(f"tabulate_frame: {tensor!r} has no frame(xyz) -> (b, d_par, d_perp) and energy_factor(E)")
    lo, step, n, nodes = _lattice(lower_kpc, upper_kpc, spacing_kpc, "tabulate_frame")
    log.info("tabulating the frame of %r on %s nodes (spacing %s kpc)", tensor, "x".join(map(str, n)),
             step.round(4).tolist())
    vals = np.empty((len(nodes), 8 if divergence else 5), dtype=dtype)
    for s in range(0, len(nodes), batch):
        b, dpar, dperp = tensor.frame(nodes[s:s + batch])
        vals[s:s + batch, 0:3] = b
        vals[s:s + batch, 3] = dpar
        vals[s:s + batch, 4] = dperp
    vals = vals.reshape(*n, vals.shape[1])
    if not divergence:
        return TabulatedFrame(tensor.energy_factor, lo, step, vals, source_repr=repr(tensor))
    from ..model.diffusion import frame_tensor
    b, dpar, dperp = (np.asarray(vals[..., 0:3], dtype=float).reshape(-1, 3), vals[..., 3].reshape(-1),
                      vals[..., 4].reshape(-1))
    vals[..., 5:8] = _node_divergence(frame_tensor(b, dpar, dperp).reshape(*n, 3, 3), step)
    return TabulatedFrameDivergence(tensor.energy_factor, lo, step, vals, source_repr=repr(tensor))


def tabulate(tensor, lower_kpc, upper_kpc, spacing_kpc: float, dtype=np.float64,
             batch: int = 1 << 18) -> TabulatedTensor:
    """Tabulate a separable tensor's S(x) and ∇·S on nodes spanning ``[lower_kpc, upper_kpc]``.

    ``spacing_kpc`` is the largest node spacing (each axis gets an integer number of intervals).
    """
    from ..model.diffusion import is_separable
    if not is_separable(tensor):
        raise TypeError(f"tabulate: {tensor!r} is not separable (needs energy_factor(E) and spatial(xyz))")
    lo, step, n, nodes = _lattice(lower_kpc, upper_kpc, spacing_kpc, "tabulate")
    log.info("tabulating %r on %s nodes (spacing %s kpc)", tensor, "x".join(map(str, n)), step.round(4).tolist())
    vals = np.empty((len(nodes), 9), dtype=dtype)
    for s in range(0, len(nodes), batch):
        S = np.asarray(tensor.spatial(nodes[s:s + batch]), dtype=float)
        for k, (i, j) in enumerate(zip(_IU, _JU)):
            vals[s:s + batch, k] = S[:, i, j]
    grid_vals = vals.reshape(*n, 9)
    full = np.empty((*n, 3, 3))
    for k, (i, j) in enumerate(zip(_IU, _JU)):
        full[..., i, j] = grid_vals[..., k]
        full[..., j, i] = grid_vals[..., k]
    grid_vals[..., 6:9] = _node_divergence(full, step)
    return TabulatedTensor(tensor.energy_factor, lo, step, grid_vals, source_repr=repr(tensor))
