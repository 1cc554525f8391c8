"""Small vectorized helpers shared by the field models: cylindrical frames and logistic steps.

Galactocentric cylindrical coordinates (r, φ, z): r = √(x² + y²), φ = atan2(y, x), with the unit
vectors r̂ = (cos φ, sin φ, 0), φ̂ = (−sin φ, cos φ, 0), ẑ. On the z axis (r = 0) the frame is
taken as cos φ = 1, sin φ = 0, as in the reference implementations.
"""
from __future__ import annotations

import numpy as np

#: r below this [kpc] counts as "on the z axis" (the C++ codes use DBL_MIN).
R_AXIS_KPC = np.finfo(float).tiny


def cylindrical(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(r, cos φ, sin φ, z) of positions (N, 3) in kpc; on the axis cos φ = 1, sin φ = 0."""
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    r = np.hypot(x, y)
    axis = r < R_AXIS_KPC
    safe_r = np.where(axis, 1.0, r)
    cos_phi = np.where(axis, 1.0, x / safe_r)
    sin_phi = np.where(axis, 0.0, y / safe_r)
    return r, cos_phi, sin_phi, z


def cyl_to_cart(B_r: np.ndarray, B_phi: np.ndarray, B_z: np.ndarray, cos_phi: np.ndarray,
                sin_phi: np.ndarray) -> np.ndarray:
    """Cartesian (N, 3) vector from cylindrical components: B = B_r r̂ + B_φ φ̂ + B_z ẑ."""
    out = np.empty((np.shape(cos_phi)[0], 3))
    out[:, 0] = B_r * cos_phi - B_phi * sin_phi
    out[:, 1] = B_r * sin_phi + B_phi * cos_phi
    out[:, 2] = B_z
    return out


def sigmoid(x: np.ndarray, x0: float, w: float) -> np.ndarray:
    """Logistic step ``1 / (1 + exp(−(x − x0)/w))`` (0 far below x0, 1 far above)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(np.asarray(x) - x0) / w))


def sigmoid_c(x: np.ndarray, x0: float, w: float) -> np.ndarray:
    """Complement ``1 − sigmoid(x, x0, w) = 1 / (1 + exp((x − x0)/w))``, without cancellation."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp((np.asarray(x) - x0) / w))
