"""Simple analytic test fields: azimuthal ring, logarithmic spiral, X-shaped poloidal halo.

All are axisymmetric, given in galactocentric Cartesian kpc → μG, and divergence-free in the
open regions where they are smooth:

* :class:`Ring` — B = B₀ φ̂: ∇·B = (1/r) ∂_φ B_φ = 0 everywhere (the optional radial/vertical
  cuts are tangential discontinuities, which carry no divergence).
* :class:`LogSpiral` — B = B₀ (r₀/r)(sin p r̂ + cos p φ̂): ∇·B = (1/r) ∂_r(r B_r) = 0 for r > 0, since
  r B_r = B₀ r₀ sin p is constant. The radial flux 2π r₀ B₀ sin p per unit height through every
  cylinder must come from the axis, so the field is set to zero for r < r_min: the cylinder
  r = r_min is a sheet of divergence (flux source) unless ``pitch_deg = 0``. Keep r_min outside
  the region you study, or use pitch 0 (a 1/r ring field).
* :class:`XField` — the X-shaped poloidal field in the form of Jansson & Farrar (2012, Eqs. 8–11):
  field lines are straight, crossing the mid-plane at radius r_p; inside r < r_c(z) = r_Xc + |z|/tan Θ₀
  their elevation grows linearly with r_p, outside it is constant Θ₀. The strength
  B(r_p) = B_X e^{−r_p/r_X} scaled by the flux-tube area (r_p/r resp. (r_p/r)²·…) keeps ∇·B = 0 at
  every point off the mid-plane; B_r flips sign across z = 0 (a kink, tangential only), and |B|
  jumps across the cone r = r_c(z), which is itself a field line (again tangential: no divergence).
"""
from __future__ import annotations

import math

import numpy as np

from ._cyl import cyl_to_cart, cylindrical
from .base import Field


def _finite(name: str, value, owner: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {name}={value!r} must be a finite number")
    return v


def _range(owner: str, lo, hi, what: str) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if not (lo >= 0 and hi > lo) or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"{owner}: {what} range [{lo}, {hi}] kpc: expected 0 <= min < max (max may be inf)")
    return lo, hi


class Ring(Field):
    """Azimuthal field ``B = B0_muG φ̂`` for r_min ≤ r ≤ r_max and |z| ≤ z_max (zero elsewhere and on the axis).

    Positive ``B0_muG`` circulates counter-clockwise seen from the north Galactic pole.
    """

    def __init__(self, B0_muG: float = 1.0, r_min_kpc: float = 0.0, r_max_kpc: float = math.inf,
                 z_max_kpc: float = math.inf):
        self.B0_muG = _finite("B0_muG", B0_muG, "Ring")
        self.r_min_kpc, self.r_max_kpc = _range("Ring", r_min_kpc, r_max_kpc, "radius")
        self.z_max_kpc = float(z_max_kpc)
        if not self.z_max_kpc > 0:
            raise ValueError(f"Ring: z_max_kpc={z_max_kpc!r} must be > 0 (inf for no cut)")

    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        r, c, s, z = cylindrical(xyz)
        on = (r >= self.r_min_kpc) & (r <= self.r_max_kpc) & (np.abs(z) <= self.z_max_kpc) & (r > 0)
        Bphi = np.where(on, self.B0_muG, 0.0)
        zero = np.zeros_like(r)
        return cyl_to_cart(zero, Bphi, zero, c, s)


class LogSpiral(Field):
    """Logarithmic-spiral field ``B = B0_muG (r0/r)(sin p r̂ + cos p φ̂)`` for r_min ≤ r ≤ r_max, |z| ≤ z_max.

    Field lines are the spirals r = r₁ exp((φ − φ₁) tan p); p > 0 winds outward counter-clockwise.
    Divergence-free for r_min < r < r_max (see the module docstring for the cylinder r = r_min).
    """

    def __init__(self, B0_muG: float = 1.0, pitch_deg: float = 11.5, r0_kpc: float = 8.5,
                 r_min_kpc: float = 3.0, r_max_kpc: float = math.inf, z_max_kpc: float = math.inf):
        self.B0_muG = _finite("B0_muG", B0_muG, "LogSpiral")
        self.pitch_deg = _finite("pitch_deg", pitch_deg, "LogSpiral")
        if not -90.0 < self.pitch_deg < 90.0:
            raise ValueError(f"LogSpiral: pitch_deg={pitch_deg!r} must lie in (-90, 90) degrees")
        self.r0_kpc = _finite("r0_kpc", r0_kpc, "LogSpiral")
        if self.r0_kpc <= 0:
            raise ValueError(f"LogSpiral: r0_kpc={r0_kpc!r} must be > 0")
        self.r_min_kpc, self.r_max_kpc = _range("LogSpiral", r_min_kpc, r_max_kpc, "radius")
        if self.r_min_kpc <= 0:
            raise ValueError(f"LogSpiral: r_min_kpc={r_min_kpc!r} must be > 0 (the 1/r field is singular on the axis)")
        self.z_max_kpc = float(z_max_kpc)
        if not self.z_max_kpc > 0:
            raise ValueError(f"LogSpiral: z_max_kpc={z_max_kpc!r} must be > 0 (inf for no cut)")

    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        r, c, s, z = cylindrical(xyz)
        on = (r >= self.r_min_kpc) & (r <= self.r_max_kpc) & (np.abs(z) <= self.z_max_kpc)
        amp = np.where(on, self.B0_muG * self.r0_kpc / np.where(on, r, 1.0), 0.0)
        p = math.radians(self.pitch_deg)
        return cyl_to_cart(amp * math.sin(p), amp * math.cos(p), np.zeros_like(r), c, s)


def x_field_cyl(r: np.ndarray, z: np.ndarray, B_X_muG: float, theta0_deg: float, r_xc_kpc: float,
                r_x_kpc: float) -> tuple[np.ndarray, np.ndarray]:
    """(B_r, B_z) of the JF12-form X field (Jansson & Farrar 2012, Eqs. 8–11), no cuts.

    With r_c = r_Xc + |z|/tan Θ₀: for r < r_c, r_p = r r_Xc/r_c, B = B_X e^{−r_p/r_X}(r_Xc/r_c)²,
    Θ = atan2(|z|, r − r_p) (Θ = 90° on the mid-plane); for r ≥ r_c, r_p = r − |z|/tan Θ₀,
    B = B_X e^{−r_p/r_X} r_p/r, Θ = Θ₀. B_r = sgn(z) B cos Θ, B_z = B sin Θ.
    """
    tan_t = math.tan(math.radians(theta0_deg))
    absz = np.abs(z)
    rc = r_xc_kpc + absz / tan_t
    inner = r < rc
    rp_in = r * r_xc_kpc / rc
    b_in = _midplane_profile(B_X_muG, rp_in, r_x_kpc) * (r_xc_kpc / rc) ** 2
    th_in = np.where(absz == 0, 0.5 * math.pi, np.arctan2(absz, r - rp_in))
    rs = np.where(inner, 1.0, r)
    rp_out = rs - absz / tan_t
    b_out = _midplane_profile(B_X_muG, rp_out, r_x_kpc) * rp_out / rs
    th = np.where(inner, th_in, math.radians(theta0_deg))
    b = np.where(inner, b_in, b_out)
    sgn = np.where(z < 0, -1.0, 1.0)
    return sgn * b * np.cos(th), b * np.sin(th)


def _midplane_profile(B_X_muG: float, rp: np.ndarray, r_x_kpc: float) -> np.ndarray:
    """Mid-plane profile B_X exp(−r_p/r_X) of the X field."""
    return B_X_muG * np.exp(-rp / r_x_kpc)


class XField(Field):
    """X-shaped poloidal halo field of JF12 form (defaults: JF12 best fit B_X = 4.6 μG, Θ₀ = 49°,
    r_Xc = 4.8 kpc, r_X = 2.9 kpc), without JF12's 1 kpc / 20 kpc cuts; divergence-free (see module doc)."""

    def __init__(self, B_X_muG: float = 4.6, theta0_deg: float = 49.0, r_xc_kpc: float = 4.8,
                 r_x_kpc: float = 2.9):
        self.B_X_muG = _finite("B_X_muG", B_X_muG, "XField")
        self.theta0_deg = _finite("theta0_deg", theta0_deg, "XField")
        if not 0.0 < self.theta0_deg < 90.0:
            raise ValueError(f"XField: theta0_deg={theta0_deg!r} must lie in (0, 90) degrees")
        self.r_xc_kpc = _finite("r_xc_kpc", r_xc_kpc, "XField")
        self.r_x_kpc = _finite("r_x_kpc", r_x_kpc, "XField")
        if self.r_xc_kpc <= 0 or self.r_x_kpc <= 0:
            raise ValueError(f"XField: r_xc_kpc={r_xc_kpc!r} and r_x_kpc={r_x_kpc!r} must be > 0")

    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        r, c, s, z = cylindrical(xyz)
        with np.errstate(divide="ignore", invalid="ignore"):
            Br, Bz = x_field_cyl(r, z, self.B_X_muG, self.theta0_deg, self.r_xc_kpc, self.r_x_kpc)
        return cyl_to_cart(Br, np.zeros_like(r), Bz, c, s)

