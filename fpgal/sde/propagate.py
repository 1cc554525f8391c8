"""`propagate`: move given particles for a given time (the time-dependent SDE solution)."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..model.diffusion import check_tensor_values
from ..core.points import as_points
from ..core.checks import check_seed, positive_int
from .coefficients import FD_STEP_KPC, SDECoefficients
from .engine import check_mode, simulate
from .parallel import chunk_seeds, chunk_sizes
from .stepping import TRACE_STEP_KPC


class Propagated(NamedTuple):
    """Result of :func:`propagate`; unpacks as ``positions, escaped = propagate(...)``.

    positions : (N, 3) kpc — final positions; for escaped particles the first position found outside
        the boundary (or, with the bridge correction, the end point of the step during which the path
        crossed it).
    escaped : (N,) bool — True for particles absorbed at the boundary before ``duration_s``.
    escape_time_s : (N,) float — time of absorption (end of the step), ``nan`` for survivors.
    """

    positions: np.ndarray
    escaped: np.ndarray
    escape_time_s: np.ndarray


class _ExitRecorder:
    def __init__(self, n: int, t_end_s: np.ndarray):
        self.exit = np.full((n, 3), np.nan)
        self.escaped = np.zeros(n, dtype=bool)
        self.time = np.full(n, np.nan)
        self.t_end_s = t_end_s

    def before_step(self, k, x, ids):
        pass

    def absorbed(self, k, ids, x_exit):
        self.exit[ids] = x_exit
        self.escaped[ids] = True
        self.time[ids] = self.t_end_s[k]


def time_steps(duration_s: float, dt_s: float) -> np.ndarray:
    """Steps of length ``dt_s`` covering ``duration_s`` exactly (the last one shortened)."""
    T, dt = float(duration_s), float(dt_s)
    if not (math.isfinite(T) and T >= 0):
        raise ValueError(f"duration_s={duration_s!r}: expected a non-negative time in s")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt_s={dt_s!r}: expected a positive time step in s")
    n_full = int(math.floor(T / dt * (1 + 1e-12)))
    steps = np.full(n_full, dt)
    rest = T - n_full * dt
    if rest > 1e-9 * dt:
        steps = np.append(steps, rest)
    return steps


def propagate(x0_kpc: np.ndarray, tensor, E_GeV: float, duration_s: float, dt_s: float, seed=0,
              boundary=None, mode: str = "ito", *, bridge: bool = True, chunk_size: int = 1 << 16,
              fd_step_kpc: float = FD_STEP_KPC, trace_step_kpc: float = TRACE_STEP_KPC) -> Propagated:
    """Propagate particles from ``x0_kpc`` for ``duration_s`` in the diffusion tensor at ``E_GeV``.

    Solves ∂n/∂t = ∇·(D∇n) by the Itô SDE dx = (∇·D) dt + √2 D^{1/2} dW (``mode="ito"``) or by
    CRPropa's DiffusionSDE algorithm (``mode="crpropa"``: field-line tracing, no ∇·D); see
    :mod:`fpgal.sde.stepping`.

    Parameters
    ----------
    x0_kpc : (N, 3) start positions, galactocentric kpc
    tensor : fpgal tensor (e.g. ``FieldAligned``), D in cm²/s
    E_GeV : kinetic energy
    duration_s, dt_s : propagation time and time step [s] (the last step is shortened to end at ``duration_s``)
    seed : int or SeedSequence; the particles are cut into chunks of ``chunk_size`` with seeds
        ``SeedSequence(seed).spawn(n_chunks)``, so results are reproducible
    boundary : optional absorbing boundary (``fpgal.Box`` with limits, ``fpgal.Cylinder``, any object with
        ``inside(xyz)``); absorbed particles stop and are flagged
    bridge : Brownian-bridge correction of escape between steps (Box and Cylinder only)

    Returns
    -------
    :class:`Propagated` ``(positions (N,3) kpc, escaped (N,) bool, escape_time_s (N,))``.
    """
    x0 = as_points(x0_kpc)
    check_seed(seed, "propagate")
    chunk_size = positive_int(chunk_size, "chunk_size", "propagate")
    coeffs = SDECoefficients(tensor, E_GeV, fd_step_kpc)
    if len(x0):     # the tensor at the start points: finite, symmetric, positive definite
        if coeffs.separable:
            check_tensor_values(tensor.spatial(x0), x0, f"tensor {tensor!r}: spatial()", units_text="(dimensionless)")
        else:
            check_tensor_values(tensor(x0, coeffs.E_GeV), x0, f"tensor {tensor!r} at E_GeV={coeffs.E_GeV:g}")
    check_mode(mode, coeffs)
    if boundary is not None and not callable(getattr(boundary, "inside", None)):
        raise TypeError(f"boundary={boundary!r}: expected an object with inside(xyz_kpc) -> bool (fpgal.Box, fpgal.Cylinder)")
    steps_s = time_steps(duration_s, dt_s)
    dtaus = [coeffs.tau_kpc2(dt) for dt in steps_s]
    t_end = np.cumsum(steps_s)
    n = len(x0)
    positions = np.empty_like(x0)
    rec = _ExitRecorder(n, t_end)
    if n == 0:
        return Propagated(positions, rec.escaped, rec.time)
    sizes = chunk_sizes(n, chunk_size)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for c, ss in enumerate(chunk_seeds(seed, len(sizes))):
        lo, hi = starts[c], starts[c + 1]
        sub = _Offset(rec, lo)
        x_end, ids = simulate(x0[lo:hi], coeffs, dtaus, np.random.default_rng(ss), boundary, mode, sub,
                              bridge=bridge, trace_step_kpc=trace_step_kpc)
        positions[lo + ids] = x_end
    positions[rec.escaped] = rec.exit[rec.escaped]
    return Propagated(positions, rec.escaped, rec.time)


class _Offset:
    """Observer adaptor shifting chunk-local particle ids to global ones."""

    def __init__(self, inner, offset: int):
        self.inner, self.offset = inner, int(offset)

    def before_step(self, k, x, ids):
        self.inner.before_step(k, x, ids + self.offset)

    def absorbed(self, k, ids, x_exit):
        self.inner.absorbed(k, ids + self.offset, x_exit)
