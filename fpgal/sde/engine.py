"""The particle loop shared by :func:`fpgal.sde.propagate` and :func:`fpgal.sde.steady_state`.

Particles are advanced together (numpy arrays over particles); absorbed particles are removed from
the arrays after each step, so the cost follows the number still alive. An *observer* sees the
positions at the start of every step (for residence-time or snapshot tallies) and the particles
that leave.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .coefficients import SDECoefficients
from .stepping import TRACE_STEP_KPC, crpropa_step, ito_step, survives

MODES = ("ito", "crpropa")


class Observer(Protocol):
    def before_step(self, k: int, x: np.ndarray, ids: np.ndarray) -> None: ...

    def absorbed(self, k: int, ids: np.ndarray, x_exit: np.ndarray) -> None: ...


def check_mode(mode: str, coeffs: SDECoefficients) -> str:
    if mode not in MODES:
        raise ValueError(f"SDE mode={mode!r}: expected one of {MODES} ('ito' with the ∇·D drift, 'crpropa' as "
                         "CRPropa's DiffusionSDE)")
    if mode == "crpropa" and not coeffs.has_frame:
        raise TypeError(f"SDE mode='crpropa' traces field lines and needs a field-aligned tensor with a frame() "
                        f"method (e.g. fpgal.diffusion.FieldAligned); got {coeffs.tensor!r}")
    return mode


def simulate(x: np.ndarray, coeffs: SDECoefficients, dtaus_kpc2, rng: np.random.Generator, boundary=None,
             mode: str = "ito", observer: Observer | None = None, bridge: bool = True,
             trace_step_kpc: float = TRACE_STEP_KPC) -> tuple[np.ndarray, np.ndarray]:
    """Advance particles through the steps ``dtaus_kpc2`` (an iterable of rescaled time steps).

    Returns (positions, ids) of the particles still inside after the last step.
    """
    x = np.array(x, dtype=float, copy=True)
    ids = np.arange(len(x))
    for k, dtau in enumerate(dtaus_kpc2):
        if len(x) == 0:
            break
        if observer is not None:
            observer.before_step(k, x, ids)
        if mode == "ito":
            x_new, quad = ito_step(coeffs, x, dtau, rng)
        else:
            x_new, quad = crpropa_step(coeffs, x, dtau, rng, trace_step_kpc)
        if boundary is None:
            x = x_new
            continue
        alive = survives(boundary, x, x_new, quad, dtau, rng, bridge=bridge)
        if not np.all(alive):
            if observer is not None:
                observer.absorbed(k, ids[~alive], x_new[~alive])
            x, ids = x_new[alive], ids[alive]
        else:
            x = x_new
    return x, ids
