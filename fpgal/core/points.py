"""Positions as every fpgal callable takes them: a float array (N, 3) of galactocentric Cartesian kpc."""
from __future__ import annotations

import numpy as np


def as_points(xyz_kpc: np.ndarray) -> np.ndarray:
    """Validate positions: float array (N, 3), finite; a single point (3,) becomes (1, 3)."""
    xyz = np.asarray(xyz_kpc, dtype=float)
    if xyz.ndim == 1 and xyz.shape[0] == 3:
        xyz = xyz[None, :]
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3) in kpc, got shape {xyz.shape}")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("positions contain NaN or inf")
    return xyz
