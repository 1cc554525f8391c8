"""Field-line tracing: integrate dx/ds = ± B(x)/|B(x)| in arc length s, vectorized over many lines.

Methods: classical fixed-step Runge–Kutta 4 (``"rk4"``, global error O(h⁴)) or the adaptive
Dormand–Prince 5(4) pair (``"rk45"``, local error per step ≤ atol_kpc + rtol |x|, step control
per line). Either way the positions are returned at the stations s = 0, step, 2 step, …, length.

Where |B| ≤ ``B_FLOOR_MUG`` the direction is undefined (b = 0): a line reaching such a point
stops there (its position stays constant) and is flagged in ``FieldLines.stopped``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import FieldLike, as_points, evaluate_field, unit_direction

METHODS = ("rk45", "rk4")

# Dormand & Prince (1980) RK5(4)7M coefficients
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = [[],
      [1 / 5],
      [3 / 40, 9 / 40],
      [44 / 45, -56 / 15, 32 / 9],
      [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
      [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
      [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
_B5 = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_B4 = np.array([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])


@dataclass
class FieldLines:
    """Traced lines: ``xyz_kpc`` (n_stations, N, 3), arc length ``s_kpc`` (n_stations,), and
    ``stopped`` (N,) True for lines that met a zero field (|B| ≤ B_FLOOR_MUG) and halted."""

    xyz_kpc: np.ndarray
    s_kpc: np.ndarray
    stopped: np.ndarray


def _direction(field: FieldLike, x: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    b, zero = unit_direction(evaluate_field(field, x))
    return sign * b, zero


def trace_field_line(field: FieldLike, start_kpc, length_kpc: float, step_kpc: float, method: str = "rk45",
                     direction: int = 1, rtol: float = 1e-8, atol_kpc: float = 1e-10,
                     max_substeps: int = 100000) -> FieldLines:
    """Trace field lines from ``start_kpc`` ((3,) or (N, 3), kpc) over ``length_kpc`` of arc length.

    Parameters
    ----------
    method : "rk45" (adaptive Dormand–Prince, tolerances ``rtol``/``atol_kpc``) or "rk4" (fixed step).
    step_kpc : output spacing in arc length; also the step size of "rk4" and the largest "rk45" step.
    direction : +1 along B, −1 against B.
    """
    if method not in METHODS:
        raise ValueError(f"trace_field_line: method={method!r}; expected one of {METHODS}")
    if direction not in (1, -1):
        raise ValueError(f"trace_field_line: direction={direction!r}; expected +1 (along B) or -1 (against B)")
    length, step = float(length_kpc), float(step_kpc)
    if not (math.isfinite(length) and length > 0):
        raise ValueError(f"trace_field_line: length_kpc={length_kpc!r} must be a positive finite number")
    if not (math.isfinite(step) and 0 < step <= length):
        raise ValueError(f"trace_field_line: step_kpc={step_kpc!r} must be positive and <= length_kpc={length}")
    x = as_points(start_kpc).copy()
    n_st = int(math.ceil(length / step - 1e-9))
    s_out = np.minimum(np.arange(n_st + 1) * step, length)
    out = np.empty((n_st + 1, len(x), 3))
    out[0] = x
    stopped = np.zeros(len(x), dtype=bool)
    sign = float(direction)
    h_try = np.full(len(x), step)
    for k in range(1, n_st + 1):
        ds = s_out[k] - s_out[k - 1]
        if method == "rk4":
            x, stop = _rk4_step(field, x, ds, sign)
        else:
            x, stop, h_try = _dopri_advance(field, x, ds, sign, rtol, atol_kpc, h_try, max_substeps)
        stopped |= stop
        out[k] = x
    return FieldLines(out, s_out, stopped)


def _rk4_step(field, x, h, sign):
    k1, z1 = _direction(field, x, sign)
    k2, z2 = _direction(field, x + 0.5 * h * k1, sign)
    k3, z3 = _direction(field, x + 0.5 * h * k2, sign)
    k4, z4 = _direction(field, x + h * k3, sign)
    stop = z1
    xn = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    xn[stop] = x[stop]
    return xn, stop | z2 | z3 | z4


def _dopri_advance(field, x, ds, sign, rtol, atol, h_try, max_substeps):
    """Advance every line by arc length ``ds`` with adaptive DP5(4) substeps (vectorized over lines)."""
    x = x.copy()
    left = np.full(len(x), ds)
    stop = np.zeros(len(x), dtype=bool)
    h = np.minimum(h_try, ds)
    for _ in range(max_substeps):
        act = (left > 1e-14 * max(ds, 1.0)) & ~stop
        if not act.any():
            return x, stop, h_try
        ia = np.flatnonzero(act)
        xa, ha = x[ia], np.minimum(h[ia], left[ia])
        k = []
        for i in range(7):
            xi = xa.copy()
            for j, a in enumerate(_A[i]):
                if a:
                    xi += (ha * a)[:, None] * k[j]
            ki, zi = _direction(field, xi, sign)
            k.append(ki)
            if i == 0:
                dead = zi          # no direction at the start of the step: the line stops here
        x5 = xa + ha[:, None] * sum(_B5[i] * k[i] for i in range(7) if _B5[i])
        x4 = xa + ha[:, None] * sum(_B4[i] * k[i] for i in range(7) if _B4[i])
        scale = atol + rtol * np.maximum(np.abs(xa), np.abs(x5))
        err = np.sqrt(np.mean(((x5 - x4) / scale) ** 2, axis=1))
        ok = err <= 1.0
        stop[ia[dead]] = True
        acc = ok & ~dead
        x[ia[acc]] = x5[acc]
        left[ia[acc]] -= ha[acc]
        fac = np.clip(0.9 * np.where(err > 0, err, 1e-10) ** -0.2, 0.2, 5.0)
        h[ia] = np.maximum(ha * fac, 1e-12)
        h_try[ia[acc]] = h[ia[acc]]
    raise RuntimeError(f"trace_field_line: rk45 did not reach the next station after {max_substeps} substeps; "
                       f"loosen rtol={rtol}/atol_kpc={atol} or check the field for singularities")
