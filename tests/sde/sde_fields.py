"""Analytic test fields for the SDE tests."""
from __future__ import annotations

import numpy as np


class RingField:
    """Azimuthal field B = B0 r/(r + r0) φ̂ (μG): direction φ̂ curves, magnitude varies with r.

    For b = φ̂ the field-aligned tensor S = ε I + (1 − ε) φ̂φ̂ᵀ has ∇·S = −(1 − ε) r̂ / r.
    """

    def __init__(self, B0_muG: float = 3.0, r0_kpc: float = 2.0):
        self.B0_muG, self.r0_kpc = B0_muG, r0_kpc

    def __call__(self, xyz):
        xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
        r = np.hypot(xyz[:, 0], xyz[:, 1])
        mag = self.B0_muG * r / (r + self.r0_kpc)
        with np.errstate(invalid="ignore", divide="ignore"):
            phi = np.stack([-xyz[:, 1] / r, xyz[:, 0] / r, np.zeros(len(r))], axis=1)
        phi[r == 0] = 0.0
        return mag[:, None] * phi

    def __repr__(self):
        return f"RingField(B0_muG={self.B0_muG}, r0_kpc={self.r0_kpc})"


def ring_divergence(xyz, eps):
    """Exact ∇·S for the ring field (kpc⁻¹)."""
    r2 = xyz[:, 0] ** 2 + xyz[:, 1] ** 2
    out = np.zeros_like(xyz)
    out[:, 0] = -(1 - eps) * xyz[:, 0] / r2
    out[:, 1] = -(1 - eps) * xyz[:, 1] / r2
    return out
