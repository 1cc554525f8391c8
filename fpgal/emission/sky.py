"""Sky directions: Galactic (l, b) ↔ unit vectors in the galactocentric frame, HEALPix pixels, rays.

Convention (documented in docs/emission.md and tested in tests/emission/test_sky.py)
-----------------------------------------------------------------------------------
The galactocentric frame is right-handed, kpc, Sun at (−R_sun, 0, z_sun), Galactic Centre at the
origin, z toward the North Galactic Pole. A direction seen from the observer with Galactic
longitude l and latitude b is the unit vector

    d(l, b) = (cos b cos l,  cos b sin l,  sin b)

so l = 0, b = 0 points from the Sun to the Galactic Centre (+x), b = +90° points to +z (NGP) and
l = 90° points to +y, the direction of Galactic rotation at the Sun (the heliocentric Galactic
frame X → GC, Y → l = 90°, Z → NGP is right-handed, and the disk rotates clockwise seen from the
NGP). This is exactly healpy's ``pix2vec`` vector of a map in Galactic coordinates
(θ = 90° − b, φ = l), so pixel vectors are used as ray directions unchanged.
"""
from __future__ import annotations

import numpy as np


def lb_to_vec(l_deg, b_deg) -> np.ndarray:
    """Unit vectors (N, 3) in the galactocentric frame for Galactic longitude/latitude in degrees."""
    l = np.radians(np.atleast_1d(np.asarray(l_deg, dtype=float)))
    b = np.radians(np.atleast_1d(np.asarray(b_deg, dtype=float)))
    l, b = np.broadcast_arrays(l, b)
    return np.stack([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)], axis=-1)


def vec_to_lb(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(l in [0, 360), b in [−90, 90]) in degrees of direction vectors (N, 3) (need not be unit)."""
    v = np.atleast_2d(np.asarray(vec, dtype=float))
    r = np.linalg.norm(v, axis=-1)
    b = np.degrees(np.arcsin(np.clip(v[:, 2] / r, -1.0, 1.0)))
    l = np.mod(np.degrees(np.arctan2(v[:, 1], v[:, 0])), 360.0)
    return l, b


def check_nside(nside: int) -> int:
    if isinstance(nside, bool) or int(nside) != nside or nside < 1 or (int(nside) & (int(nside) - 1)):
        raise ValueError(f"nside={nside!r}: expected a positive power of two (1, 2, 4, ..., 1024)")
    return int(nside)


def pixel_directions(nside: int) -> np.ndarray:
    """Unit vectors (npix, 3) of the centres of all HEALPix RING pixels in Galactic coordinates."""
    import healpy as hp
    nside = check_nside(nside)
    return np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))), axis=-1)


def pixel_lb(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """(l, b) in degrees of the centres of all RING pixels."""
    import healpy as hp
    nside = check_nside(nside)
    l, b = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    return np.mod(l, 360.0), b


def ray_box_interval(origin_kpc, directions: np.ndarray, lower_kpc, upper_kpc) -> tuple[np.ndarray, np.ndarray]:
    """Path lengths [kpc] where rays ``origin + s d`` (s ≥ 0) are inside the box (slab method).

    Returns ``(s_in, s_out)`` per direction; a ray that misses the box has ``s_out <= s_in``.
    """
    o = np.asarray(origin_kpc, dtype=float).reshape(3)
    d = np.asarray(directions, dtype=float)
    lo = np.asarray(lower_kpc, dtype=float)
    hi = np.asarray(upper_kpc, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (lo - o) * inv
        t2 = (hi - o) * inv
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    parallel = d == 0.0
    inside_slab = (o >= lo) & (o <= hi)
    tmin = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), tmin)
    tmax = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), tmax)
    s_in = np.maximum(tmin.max(axis=1), 0.0)
    s_out = tmax.min(axis=1)
    return s_in, s_out
