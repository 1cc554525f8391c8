"""Sampling a field onto a :class:`fpgal.grid.Grid`, in bounded-memory chunks.

``sample_centers`` and ``sample_corners`` evaluate B at cell centres (nx, ny, nz, 3) or at cell
corners (nx+1, ny+1, nz+1, 3). Points are generated slab by slab along x, so no (N, 3) coordinate
array of the whole mesh is ever built; at most ``chunk_points`` positions are evaluated at once.
Every chunk goes through :func:`fpgal.fields.base.evaluate_field` (shape and NaN checks).

Directions: ``sample_directions`` returns b = B/|B| and the mask of points with
|B| ≤ ``B_FLOOR_MUG`` (1e-12 μG) where the direction is undefined; there b = 0, and
:class:`fpgal.diffusion.FieldAligned` treats such points as isotropic diffusion with the
trace-preserving coefficient (D∥ + 2 D⊥)/3.
"""
from __future__ import annotations

import numpy as np

from .base import B_FLOOR_MUG, FieldLike, evaluate_field, unit_direction

DEFAULT_CHUNK_POINTS = 1 << 20


def sample_on_axes(field: FieldLike, x_kpc: np.ndarray, y_kpc: np.ndarray, z_kpc: np.ndarray,
                   chunk_points: int = DEFAULT_CHUNK_POINTS) -> np.ndarray:
    """B_muG on the tensor-product nodes of three 1-D axes, shape (nx, ny, nz, 3)."""
    x, y, z = (np.asarray(a, dtype=float) for a in (x_kpc, y_kpc, z_kpc))
    if int(chunk_points) < 1:
        raise ValueError(f"chunk_points={chunk_points!r} must be a positive integer")
    nx, ny, nz = x.size, y.size, z.size
    out = np.empty((nx, ny, nz, 3))
    plane = ny * nz
    yy, zz = np.meshgrid(y, z, indexing="ij")
    yz = np.stack([yy.ravel(), zz.ravel()], axis=1)
    if plane <= chunk_points:
        slabs = max(1, int(chunk_points) // plane)
        for i0 in range(0, nx, slabs):
            i1 = min(nx, i0 + slabs)
            pts = np.empty(((i1 - i0) * plane, 3))
            pts[:, 0] = np.repeat(x[i0:i1], plane)
            pts[:, 1:] = np.tile(yz, (i1 - i0, 1))
            out[i0:i1] = evaluate_field(field, pts).reshape(i1 - i0, ny, nz, 3)
    else:                                   # one x-plane is larger than a chunk: split the plane
        for i in range(nx):
            flat = out[i].reshape(plane, 3)
            for k0 in range(0, plane, int(chunk_points)):
                k1 = min(plane, k0 + int(chunk_points))
                pts = np.empty((k1 - k0, 3))
                pts[:, 0] = x[i]
                pts[:, 1:] = yz[k0:k1]
                flat[k0:k1] = evaluate_field(field, pts)
    return out


def sample_centers(field: FieldLike, grid, chunk_points: int = DEFAULT_CHUNK_POINTS) -> np.ndarray:
    """B_muG at the cell centres of ``grid``, shape (nx, ny, nz, 3)."""
    return sample_on_axes(field, *(grid.centers_1d_kpc(a) for a in range(3)), chunk_points=chunk_points)


def sample_corners(field: FieldLike, grid, chunk_points: int = DEFAULT_CHUNK_POINTS) -> np.ndarray:
    """B_muG at the cell corners of ``grid``, shape (nx+1, ny+1, nz+1, 3)."""
    return sample_on_axes(field, *(grid.edges_kpc(a) for a in range(3)), chunk_points=chunk_points)


def sample_directions(field: FieldLike, grid, where: str = "centers", floor_muG: float = B_FLOOR_MUG,
                      chunk_points: int = DEFAULT_CHUNK_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(b, |B|_muG, zero_mask) at ``where`` = "centers" or "corners"; b = 0 where |B| ≤ floor_muG."""
    if where == "centers":
        B = sample_centers(field, grid, chunk_points)
    elif where == "corners":
        B = sample_corners(field, grid, chunk_points)
    else:
        raise ValueError(f"sample_directions: where={where!r}; expected 'centers' or 'corners'")
    b, zero = unit_direction(B, floor_muG)
    return b, np.linalg.norm(B, axis=-1), zero
