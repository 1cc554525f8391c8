"""Grid (finite-volume + PETSc) solver of the steady CR transport equation.

    −∇·(D(r,E) ∇n) + ∇·(u n) + ∂_E(Ė n) + n/τ(r,E) = Q(r,E) = source(r) · spectrum(E),  n = 0 outside

Entry point: :func:`solve_steady`. Scheme and validation: ``docs/numerics.md``.
"""
from __future__ import annotations

from typing import Callable

from ..core.grid import Grid
from ..result import CRDensity
from .problem import TransportProblem
from .solver import SolverDivergedError

__all__ = ["solve_steady", "TransportProblem", "SolverDivergedError"]


def solve_steady(grid: Grid, tensor: Callable, source: Callable, spectrum: Callable, boundary=None,
                 losses=None, petsc_options: dict | None = None, comm=None, *, scheme: str = "split",
                 source_points: int = 2, gather: str = "all", rtol: float = 1e-10) -> CRDensity | None:
    """Steady-state CR density n(E, x) in GeV⁻¹ cm⁻³ on ``grid``.

    Parameters
    ----------
    grid : fpgal.Grid — cells (kpc) and energies E_GeV
    tensor : callable ``(xyz_kpc (N,3), E_GeV) -> (N,3,3)`` in cm²/s, symmetric positive definite
        (e.g. ``fpgal.diffusion.FieldAligned(field, eps, BrokenPowerLaw(3e28))``). Separable tensors
        (``energy_factor`` + ``spatial``) without losses are solved once for all energies.
    source : callable ``xyz_kpc (N,3) -> (N,)``, e.g. ``fpgal.sources.PulsarSpiral()``; the solver
        uses cell averages (``source_points``³ Gauss points per cell), point sources are deposited.
    spectrum : callable ``E_GeV -> float``. The source term is Q = source(x) · spectrum(E) in
        GeV⁻¹ cm⁻³ s⁻¹ (signed values allowed: the problem is linear).
    boundary : escape boundary, default ``fpgal.Box()`` (the grid faces); ``fpgal.Cylinder(20, 4)``.
    losses : None, or one/a list of :mod:`fpgal.transport.losses` terms (PPLosses,
        IonizationLosses, Advection, ...).
    petsc_options : dict of PETSc options without the leading dash (``{"ksp_type": "cg",
        "pc_gamg_threshold": "0.02"}``); command-line options (``petsc4py.init(sys.argv)``) win.
    comm : MPI communicator (mpi4py or PETSc), default COMM_WORLD.
    scheme : "split" (default) or "corner" (see :mod:`fpgal.transport.stencil`).
    gather : "all" (default) — every rank returns the same full CRDensity (for a factorized solve
        that is only G(x) and the energy factor), so a plain script runs unchanged under ``mpirun``:
        the result carries the communicator (``cr.comm``), and ``cr.save(path)`` is collective (rank
        0 writes the file, every rank returns the path or raises the same error).
        "root" — opt-in for memory-limited runs: rank 0 returns the CRDensity (``comm`` None, so its
        ``save`` is not collective), the other ranks return None.
    rtol : default relative tolerance of the Krylov solver (``-ksp_rtol`` overrides).

    Returns
    -------
    CRDensity — factorized (``cr.is_factorized``: ``spatial`` G and ``energy_factor``) for a separable
    tensor without losses, general otherwise — with ``meta`` (identical on all ranks, rank 0's
    timings): solver, scheme, factorized, ksp_type, pc_type, iterations,
    residual_norm, true_relative_residual, negative_cell_fraction, negative_weight_fraction,
    assembly_time_s, solve_time_s, wall_time_s, n_ranks. Raises ValueError/TypeError on bad input
    before any solve and :class:`SolverDivergedError` if the Krylov solver fails.
    """
    problem = TransportProblem(grid, tensor, source, spectrum, boundary=boundary, losses=losses, scheme=scheme,
                               source_points=source_points)
    return problem.solve(petsc_options=petsc_options, comm=comm, gather=gather, rtol=rtol)
