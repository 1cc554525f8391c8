"""Line-of-sight integration through a cell-centred grid, vectorized over (rays × steps), chunked.

For each direction d the integral

    L(E, d) = ∫_{s_in}^{s_out} ds  ρ(x(s)) · f(E, x(s)) · exp(−s / λ(E)),      x(s) = x_obs + s d

is taken from where the ray enters the box (s_in = 0 for an observer inside) to where it leaves
it. ρ is a callable density (the gas, evaluated exactly at every sample), f a cell-centred field
(the emissivity per hydrogen atom) interpolated trilinearly, λ an optional attenuation length.
The rule is the composite trapezoid rule with N_d = ceil((s_out − s_in)/h_d) equal steps per ray,
h_d = min(step_kpc, dz_kpc/|d_z|) (the vertical refinement resolves thin gas disks at high |b|). Units: [ρ]·[f]·kpc.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.checks import renamed_keywords
from ..core.interp import trilinear
from .sky import ray_box_interval


def checked_gas(gas: Callable[[np.ndarray], np.ndarray], xyz_kpc: np.ndarray) -> np.ndarray:
    """``gas(xyz)`` (N,) in cm⁻³, checked: ValueError naming the gas model, the first point (kpc) and the
    value where it is NaN/inf or negative, or when it returns the wrong number of values."""
    n = np.asarray(gas(xyz_kpc), dtype=float).reshape(-1)
    if n.size != len(xyz_kpc):
        raise ValueError(f"gas model {gas!r} returned {n.size} densities for {len(xyz_kpc)} points; "
                         "expected one n_H [cm^-3] per point")
    bad = ~np.isfinite(n) | (n < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x = ", ".join(f"{v:.4g}" for v in xyz_kpc[i])
        raise ValueError(f"gas model {gas!r} gives n_H = {float(n[i])!r} cm^-3 at ({x}) kpc ({int(bad.sum())} of "
                         f"{n.size} samples bad); expected finite densities >= 0 in cm^-3")
    return n


@renamed_keywords(observer_kpc="sun_kpc")
def los_integral(directions: np.ndarray, sun_kpc, lower_kpc, upper_kpc, step_kpc: float,
                 density: Callable[[np.ndarray], np.ndarray] | None = None,
                 field: np.ndarray | None = None, attenuation_kpc: np.ndarray | None = None,
                 dz_kpc: float | None = None, max_samples: int = 2_000_000) -> np.ndarray:
    """Integrate ``density × field`` along rays; returns (nE, n_directions) (nE = 1 without ``field``).

    Parameters
    ----------
    directions : (n, 3) unit vectors (galactocentric frame, see :mod:`fpgal.emission.sky`).
    sun_kpc : ray origin, the observer (the Sun), (3,) in kpc (old name ``observer_kpc``).
    lower_kpc, upper_kpc : the box (3,) the rays are integrated through; ``field`` is cell-centred
        on this box with shape (nx, ny, nz, nE).
    step_kpc : largest step along the ray, kpc (> 0).
    density : callable (N, 3) kpc → (N,), or None for 1; its values must be finite and ≥ 0
        (:func:`checked_gas`: ValueError naming the model and the first bad point otherwise).
    field : (nx, ny, nz, nE) array, or None for 1.
    attenuation_kpc : (nE,) attenuation lengths λ(E) in kpc (inf = none), or None.
    dz_kpc : optional vertical resolution: the step of a ray with direction d is
        min(step_kpc, dz_kpc / |d_z|), so thin gas disks (scale heights ~50–100 pc) are resolved at
        high latitude without refining the nearly horizontal rays.
    max_samples : samples per chunk × nE bound (memory).
    """
    d, o = _checked_rays(directions, sun_kpc, step_kpc)
    lo = np.asarray(lower_kpc, dtype=float).reshape(3)
    hi = np.asarray(upper_kpc, dtype=float).reshape(3)
    spacing = None
    if field is not None:
        field = _checked_field(field)
        spacing = (hi - lo) / np.array(field.shape[:3])
    nE = 1 if field is None else field.shape[3]
    lam = None if attenuation_kpc is None else _checked_attenuation(attenuation_kpc, nE)

    out = np.zeros((nE, len(d)))
    s_in, s_out = ray_box_interval(o, d, lo, hi)
    length = s_out - s_in
    rays = np.flatnonzero(length > 0)
    if rays.size == 0:
        return out
    ds, m = _ray_steps(d[rays], length[rays], step_kpc, dz_kpc)
    for sel in _ray_chunks(m, max(int(max_samples // max(nE, 1)), int(m.max()))):
        mm = m[sel]
        first = np.concatenate([[0], np.cumsum(mm)[:-1]])
        ray_local = np.repeat(np.arange(mm.size), mm)
        k = np.arange(int(mm.sum())) - np.repeat(first, mm)
        ds_s = ds[sel][ray_local]
        s = s_in[rays[sel]][ray_local] + k * ds_s
        w = ds_s * np.where((k == 0) | (k == np.repeat(mm - 1, mm)), 0.5, 1.0)
        xyz = o + s[:, None] * d[rays[sel]][ray_local]
        vals = _sample_values(xyz, s, w, density, field, lo, spacing, lam)
        out[:, rays[sel]] = np.add.reduceat(vals, first, axis=0).T
    return out


def _checked_rays(directions, sun_kpc, step_kpc: float) -> tuple[np.ndarray, np.ndarray]:
    """The directions as an (n, 3) float array and the observer as (3,) kpc; ValueError naming a bad
    shape, a non-positive step or a non-finite observer."""
    d = np.asarray(directions, dtype=float)
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"directions must have shape (n, 3), got {d.shape}")
    if not (np.isfinite(step_kpc) and step_kpc > 0):
        raise ValueError(f"step_kpc={step_kpc!r}: expected a positive step length in kpc")
    o = np.asarray(sun_kpc, dtype=float).reshape(3)
    if not np.all(np.isfinite(o)):
        raise ValueError(f"sun_kpc={o.tolist()} (the observer): expected three finite coordinates in kpc")
    return d, o


def _checked_field(field: np.ndarray) -> np.ndarray:
    """The cell-centred field as a contiguous (nx, ny, nz, nE) float array; ValueError naming the
    shape, or the first cell and energy index where it is NaN/inf."""
    field = np.ascontiguousarray(field, dtype=float)
    if field.ndim != 4:
        raise ValueError(f"field must have shape (nx, ny, nz, nE), got {field.shape}")
    if not np.all(np.isfinite(field)):
        i = tuple(int(v) for v in np.unravel_index(int(np.flatnonzero(~np.isfinite(field))[0]), field.shape))
        raise ValueError(f"field (the emissivity) is NaN/inf at cell {i[:3]}, energy index {i[3]}: "
                         f"{float(field[i])!r}; expected finite values")
    return field


def _checked_attenuation(attenuation_kpc, nE: int) -> np.ndarray:
    """λ(E) broadcast to (nE,) kpc; ValueError unless every length is > 0 (inf = no attenuation)."""
    lam = np.broadcast_to(np.asarray(attenuation_kpc, dtype=float), (nE,))
    if np.any(np.isnan(lam)) or np.any(lam <= 0):
        raise ValueError("attenuation lengths must be > 0 (use inf for no attenuation)")
    return lam


def _ray_steps(d: np.ndarray, length: np.ndarray, step_kpc: float,
               dz_kpc: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Step ds (kpc) and sample count m = N_d + 1 of each ray of direction ``d`` and box chord ``length``:
    N_d = ceil(length / h_d) equal steps, h_d = min(step_kpc, dz_kpc / |d_z|)."""
    step = np.full(len(d), float(step_kpc))
    if dz_kpc is not None:
        if not (np.isfinite(dz_kpc) and dz_kpc > 0):
            raise ValueError(f"dz_kpc={dz_kpc!r}: expected a positive vertical step in kpc")
        with np.errstate(divide="ignore"):
            step = np.minimum(step, dz_kpc / np.abs(d[:, 2]))
    n_steps = np.maximum(np.ceil(length / step - 1e-9).astype(np.int64), 1)
    return length / n_steps, n_steps + 1                 # samples per ray (both ends included)


def _ray_chunks(m: np.ndarray, per_chunk: int):
    """Slices of consecutive rays holding at most ``per_chunk`` samples together (at least one ray each)."""
    csum = np.cumsum(m)
    start = 0
    while start < m.size:
        done = csum[start - 1] if start else 0
        stop = max(int(np.searchsorted(csum, done + per_chunk, side="right")), start + 1)
        yield slice(start, stop)
        start = stop


def _sample_values(xyz: np.ndarray, s: np.ndarray, w: np.ndarray, density, field, lo: np.ndarray, spacing,
                   lam) -> np.ndarray:
    """Integrand × trapezoid weight at the samples, (n_samples, nE): w · ρ(x) · f(E, x) · exp(−s/λ(E))."""
    if density is not None:
        w = w * checked_gas(density, xyz)
    if field is None:
        vals = w[:, None]
    else:
        vals = trilinear(field, lo, spacing, xyz, outside=None) * w[:, None]
    if lam is not None:
        vals = vals * np.exp(-s[:, None] / lam[None, :])
    return vals
