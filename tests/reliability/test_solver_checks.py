"""A grid solve is accepted only if its true relative residual meets the tolerance (issue 15).

Reproduces the case of the issue: the corner scheme with an indefinite tensor, where CG + GAMG
reported CONVERGED_RTOL after one iteration with a true relative residual of 1.0 and 52 % negative
cells. The tensor is now refused at the door (not positive definite); the Krylov solver on the same
operator — built directly, past the tensor check — raises SolverDivergedError naming the residual,
the limit, the iterations and what to try.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from fpgal.boundary import Box
from fpgal.diffusion import Isotropic
from fpgal.grid import Grid
from fpgal.sources import GaussianBlob, cell_averages
from fpgal.transport import SolverDivergedError, solve_steady
from fpgal.transport import stencil as op
from fpgal.transport.solver import FIRST_GAMG_OPTIONS, DistributedGrid, KrylovSolver, accepted_residual

GRID = Grid((-3, 3, 12), (-3, 3, 12), (-2, 2, 8), E_GeV=np.array([100.0]))
SOURCE = GaussianBlob((0, 0, 0), 0.5)
INDEFINITE = np.diag([1e28, -1e28, 1e28])      # cm²/s: one negative eigenvalue (along y)


def indefinite(xyz, E):
    return np.broadcast_to(INDEFINITE, (len(xyz), 3, 3))


def test_acceptance_rule():
    # min(max(100 rtol, 1e-6), 0.1): the default rtol 1e-10 allows 1e-6; large rtol is capped at 0.1
    assert accepted_residual(1e-10) == pytest.approx(1e-6)
    assert accepted_residual(1e-13) == pytest.approx(1e-6)
    assert accepted_residual(1e-6) == pytest.approx(1e-4)
    assert accepted_residual(1e-2) == pytest.approx(0.1)
    assert accepted_residual(0.5) == pytest.approx(0.1)


def _solve_indefinite(petsc_options: dict | None) -> str:
    """Solve the corner-scheme system of INDEFINITE; return the SolverDivergedError's message."""
    dgrid = DistributedGrid(GRID)
    box = dgrid.box
    unknown_pad, in_grid_pad = op.unknown_mask_padded(GRID, box, Box().bind(GRID))
    D = np.broadcast_to(INDEFINITE, tuple(s + 1 for s in box.shape) + (3, 3))
    coef, _ = op.stencil(GRID, box, D, unknown_pad, in_grid_pad, "corner")
    scale = float(coef[op.CENTER].max())
    ksp = KrylovSolver(dgrid, petsc_options=petsc_options)
    try:
        ksp.set_operator(*op.stencil_to_csr(coef / scale, box, unknown_pad, dgrid.global_index))
        with pytest.raises(SolverDivergedError) as info:
            ksp.solve(cell_averages(SOURCE, GRID, 2) / scale, context="E_GeV=100")
    finally:
        ksp.destroy()
        dgrid.destroy()
    return str(info.value)


def test_krylov_refuses_converged_reason_with_large_true_residual():
    """The operator of the issue's case: CG stops with a positive reason, x is no solution.

    The case was found with the first GAMG level smoother (classic Chebyshev(3) around SSOR(1.5),
    graph threshold 0.01), pinned here; under today's defaults the same operator ends in
    DIVERGED_NANORINF, which the reason check refuses by itself."""
    msg = _solve_indefinite(FIRST_GAMG_OPTIONS)
    assert "E_GeV=100" in msg
    assert "CONVERGED" in msg and "after 1 iterations" in msg
    assert "true relative residual |b - A x|/|b| = 1.000e+00" in msg
    assert "acceptance limit 1.0e-06" in msg and "rtol = 1.0e-08" in msg
    assert "positive definite" in msg and "-ksp_type gmres" in msg


def test_krylov_refuses_indefinite_operator_with_default_smoother():
    """The same operator under the default level smoother: refused too, with the KSP's reason."""
    msg = _solve_indefinite(None)
    assert "E_GeV=100" in msg and ("DIVERGED" in msg or "true relative residual" in msg)


@pytest.mark.parametrize("scheme", ["corner", "split"])
def test_indefinite_tensor_refused_before_the_solve(scheme):
    with pytest.raises(ValueError) as info:
        solve_steady(GRID, indefinite, SOURCE, lambda E: 1.0, scheme=scheme)
    msg = str(info.value)
    assert "not positive definite" in msg and "E_GeV=100" in msg
    assert "at x = (-3, -3, -2) kpc" in msg                 # the first vertex of the grid
    assert "smallest eigenvalue -1e+28 cm²/s" in msg
    assert f"({13 * 13 * 9} of {13 * 13 * 9} points)" in msg


def test_large_rtol_gives_no_accepted_solution():
    # rtol 0.5 with Jacobi lets CG stop after 3 iterations at a true residual of 0.48, far above the 0.1 ceiling
    with pytest.raises(SolverDivergedError, match=r"true relative residual .* = 4\.8\d*e-01 exceeds the acceptance "
                                                  r"limit 1\.0e-01"):
        solve_steady(GRID, Isotropic(3e28), SOURCE, lambda E: 1.0,
                     petsc_options={"ksp_rtol": "0.5", "pc_type": "jacobi"})


def test_good_solve_reports_residual_and_limit():
    cr = solve_steady(GRID, Isotropic(3e28), SOURCE, lambda E: 1.0)
    assert cr.meta["residual_limit"] == pytest.approx(1e-6)
    assert 0 < cr.meta["true_relative_residual"] <= 1e-8     # measured 1e-10 … 5e-9 (rtol 1e-10)
    assert cr.meta["negative_cell_fraction"] == 0.0
