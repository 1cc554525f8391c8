"""Stochastic-differential-equation (pseudo-particle) solver: the cross-check of the grid solver.

Same physics as :func:`fpgal.solve_steady` — −∇·(D∇n) = Q, n = 0 on the escape boundary — solved with
particles that follow the Itô SDE dx = (∇·D) dt + √2 D^{1/2} dW (``mode="ito"``), or CRPropa's
DiffusionSDE algorithm without the ∇·D drift (``mode="crpropa"``), returning the same
:class:`fpgal.CRDensity` (with per-cell statistical errors).

>>> import fpgal
>>> pos, escaped, t_esc = fpgal.sde.propagate(x0_kpc, tensor, 1e3, duration_s=3e13, dt_s=1e11, seed=1)
>>> cr = fpgal.sde.steady_state(grid, tensor, source, spectrum, n_particles=200_000, seed=1,
...                             boundary=fpgal.Cylinder(20, 4))

Modules: ``coefficients`` (drift, noise, ∇·D), ``stepping`` (Itô / CRPropa steps, escape),
``engine`` (particle loop), ``propagate``, ``steady`` (residence / snapshot estimators, MPI),
``table`` (trilinear lookup table of S and ∇·S), ``parallel`` (chunks, seeds, MPI), ``stepsize`` (the
default step from the tensor's gradient length), ``richardson`` (the step-bias pair dτ / 2dτ and its
extrapolation).
See docs/sde.md.
"""
from .coefficients import SDECoefficients
from .propagate import Propagated, propagate
from .steady import sample_positions, steady_state
from .table import TabulatedTensor, tabulate

__all__ = ["propagate", "Propagated", "steady_state", "sample_positions", "SDECoefficients", "tabulate",
           "TabulatedTensor"]
