"""Trilinear interpolation of cell-centred data at arbitrary points (vectorized over points)."""
from __future__ import annotations

import numpy as np


def trilinear(values: np.ndarray, lower_kpc: np.ndarray, spacing_kpc: np.ndarray, xyz_kpc: np.ndarray,
              outside: float | None = 0.0) -> np.ndarray:
    """Trilinear interpolation of cell-centred ``values`` (nx, ny, nz, ...) at points (N, 3).

    Cell ``i`` has its centre at ``lower + (i + 1/2) spacing``. Between the outermost centre and the
    box face the value is held constant; points outside the box get ``outside`` (or are clamped to
    the box if ``outside`` is None). Returns shape (N, ...).
    """
    v = np.asarray(values)
    if v.dtype.kind != "f":          # float32 tables stay float32 (no copy of the whole table per call)
        v = v.astype(float)
    shape = np.array(v.shape[:3])
    rest = v.shape[3:]
    pts = np.asarray(xyz_kpc, dtype=float).reshape(-1, 3)
    lower = np.asarray(lower_kpc, dtype=float)
    u = np.clip((pts - lower) / spacing_kpc - 0.5, 0.0, shape - 1.0)   # continuous centre index
    i0 = np.minimum(u.astype(np.int64), np.maximum(shape - 2, 0))
    f = u - i0                                                         # in [0, 1]
    flat = v.reshape((-1,) + rest)
    stride = np.array([shape[1] * shape[2], shape[2], 1])
    step = np.where(shape > 1, stride, 0)                              # a 1-cell axis has no neighbour
    base = i0 @ stride
    fx, fy, fz = f.T
    out = np.zeros((len(pts),) + rest)
    wshape = (-1,) + (1,) * len(rest)
    for ox, wx in ((0, 1.0 - fx), (step[0], fx)):
        for oy, wy in ((0, 1.0 - fy), (step[1], fy)):
            wxy = wx * wy
            for oz, wz in ((0, 1.0 - fz), (step[2], fz)):
                corner = np.take(flat, base + (ox + oy + oz), axis=0)
                corner *= (wxy * wz).reshape(wshape)
                out += corner
    if outside is not None:
        upper = lower + shape * spacing_kpc
        bad = np.any((pts < lower) | (pts > upper), axis=1)
        if np.any(bad):
            out[bad] = outside
    return out
