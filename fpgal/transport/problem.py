"""`TransportProblem`: grid + tensor + source + spectrum + boundary + losses → `CRDensity`.

Solves, for every energy E of the grid,

    −∇·(D(r,E) ∇n) + ∇·(u n) + ∂_E(Ė n) + n/τ(r,E) = Q(r,E) = source(r) · spectrum(E),

n = 0 outside the escape boundary, with the finite-volume operator of
:mod:`fpgal.transport.stencil` and PETSc (:mod:`fpgal.transport.solver`).

Factorisation: if the tensor is separable, ``D(x, E) = f(E) S(x)``
(:func:`fpgal.diffusion.is_separable`) and there are no loss or advection terms, one spatial
problem ``−∇·(S ∇G) = source`` is solved and ``n(r, E) = spectrum(E)/f(E) · G(r)`` exactly
(``meta["factorized"] = True``); the result is a factorized :class:`fpgal.CRDensity` holding G and
the energy factor, not nE copies of G. Otherwise the energies are solved one by one, from the highest
down (continuous losses carry particles to lower energies), reusing the KSP.

MPI: by default every rank returns the full result (broadcast from rank 0), carrying the
communicator so that ``CRDensity.save`` is collective.

Input checks: the user callables (spectrum, energy factor, source, tensor) are evaluated at the start
of :meth:`TransportProblem.solve`, on every rank, inside :func:`fpgal.sde.parallel.collective`: an
error on one rank is raised on every rank (never a hang). Tensors are checked by
:func:`fpgal.diffusion.check_tensor_values` (finite, symmetric, positive definite, both the full and
the separable ``spatial`` form); a solve is accepted only if its true relative residual meets the
tolerance (:meth:`fpgal.transport.solver.KrylovSolver.solve`).
"""
from __future__ import annotations

import math
import resource
import time
from typing import Callable

import numpy as np

from ..core import units
from ..model.boundary import Box
from ..model.diffusion import check_tensor_values, energy_factors, is_separable
from ..core.grid import Grid
from ..core.log import get_logger
from ..result import CRDensity
from ..core.checks import spectrum_values
from ..core.mpi import collective
from ..core.modelbase import models_json
from ..model.sources import cell_averages
from . import stencil as op
from .losses import energy_loss_GeV_per_s, loss_rate_per_s, normalize_losses
from .solver import DistributedGrid, KrylovSolver

log = get_logger(__name__)


def _collective(dgrid: DistributedGrid, fn: Callable, what: str = "the transport set-up"):
    """Run ``fn`` on every rank; if it fails anywhere, raise on every rank (no MPI deadlock)."""
    return collective(fn, dgrid.comm.tompi4py() if dgrid.size > 1 else None, what)


def _local_grid(grid: Grid, box: op.LocalBox) -> Grid:
    """The rank's box of cells as a Grid of the same spacing."""
    axes = []
    for a in range(3):
        e = grid.edges_kpc(a)
        axes.append((float(e[box.lo[a]]), float(e[box.hi[a]]), int(box.hi[a] - box.lo[a])))
    return Grid(*axes, E_GeV=grid.E_GeV, name=grid.name)


GATHER_MODES = ("all", "root")


def _collect(dgrid: DistributedGrid, local: np.ndarray, gather: str) -> np.ndarray | None:
    """The full (…, nx, ny, nz) array from the ranks' boxes: on every rank (``"all"``, broadcast
    from rank 0 so all ranks hold identical numbers) or on rank 0 only (``"root"``, None elsewhere)."""
    full = dgrid.gather(local)
    if gather == "root" or dgrid.size == 1:
        return full
    if full is None:
        full = np.empty(local.shape[:-3] + dgrid.grid.shape, dtype=local.dtype)
    dgrid.comm.tompi4py().Bcast(full, root=0)
    return full


def _user_comm(comm, size: int):
    """The mpi4py form of the communicator the solve ran on (None on one rank): kept by the result."""
    if size == 1:
        return None
    if comm is None:
        from mpi4py import MPI
        return MPI.COMM_WORLD
    return comm.tompi4py() if hasattr(comm, "tompi4py") else comm


class TransportProblem:
    """The steady transport problem; :meth:`solve` returns a :class:`fpgal.CRDensity`.

    Parameters
    ----------
    grid : Grid (cells and energies)
    tensor : callable (N,3) kpc, E_GeV → (N,3,3) cm²/s (e.g. :class:`fpgal.diffusion.FieldAligned`)
    source : callable (N,3) kpc → relative source density (see :mod:`fpgal.sources`)
    spectrum : callable E_GeV → injection spectrum; Q = source · spectrum in GeV⁻¹ cm⁻³ s⁻¹
    boundary : escape boundary (default :class:`fpgal.Box`, the grid faces)
    losses : None, a loss term of :mod:`fpgal.transport.losses`, or a list of them
    scheme : "split" (default; λ_min I on 7 points + remainder on the corner stencil) or "corner"
    source_points : Gauss–Legendre points per axis for the cell averages of the source
    """

    def __init__(self, grid: Grid, tensor: Callable, source: Callable, spectrum: Callable, boundary=None,
                 losses=None, scheme: str = "split", source_points: int = 2):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid={grid!r} must be an fpgal.Grid")
        for name, obj in (("tensor", tensor), ("source", source), ("spectrum", spectrum)):
            if not callable(obj):
                raise TypeError(f"{name}={obj!r} must be callable")
        if scheme not in op.SCHEMES:
            raise ValueError(f"scheme={scheme!r}: expected one of {op.SCHEMES}")
        self.grid = grid
        self.tensor = tensor
        self.source = source
        self.spectrum = spectrum
        boundary = Box() if boundary is None else boundary
        if not callable(getattr(boundary, "inside", None)):
            raise TypeError(f"boundary={boundary!r} must have inside(xyz_kpc) (fpgal.Box, fpgal.Cylinder)")
        boundary.check_grid(grid)
        self.boundary = boundary.bind(grid)
        self.losses = losses
        self.catastrophic, self.continuous, self.advection = normalize_losses(losses)
        if self.continuous and grid.n_E < 2:
            raise ValueError("continuous energy losses need a grid with at least 2 energies")
        self.scheme = scheme
        if isinstance(source_points, bool) or int(source_points) != source_points or source_points < 1:
            raise ValueError(f"source_points={source_points!r}: expected a positive integer (Gauss points per axis)")
        self.source_points = int(source_points)
        # the user callables are evaluated in solve(), collectively (an error on one rank reaches all)
        self.spectrum_values: np.ndarray | None = None
        self.energy_factor_values: np.ndarray | None = None
        self.factorized = is_separable(tensor) and not (self.catastrophic or self.continuous or self.advection)

    @property
    def symmetric(self) -> bool:
        return self.advection is None or self.advection.u0_km_s == 0.0

    # ------------------------------------------------------------------ assembly helpers
    def _evaluate_inputs(self) -> None:
        """Spectrum (and energy factor of a separable tensor) at the grid energies, checked."""
        self.spectrum_values = spectrum_values(self.spectrum, self.grid.E_GeV)
        if is_separable(self.tensor):
            self.energy_factor_values = energy_factors(self.tensor, self.grid.E_GeV)

    def _setup_local(self, dgrid: DistributedGrid):
        box = dgrid.box
        unknown_pad, in_grid_pad = op.unknown_mask_padded(self.grid, box, self.boundary)
        unk = unknown_pad[1:-1, 1:-1, 1:-1]
        if hasattr(self.source, "deposit"):
            full = np.asarray(self.source.deposit(self.grid), dtype=float)
            s = full[box.lo[0]:box.hi[0], box.lo[1]:box.hi[1], box.lo[2]:box.hi[2]]
        elif box.size:
            s = cell_averages(self.source, _local_grid(self.grid, box), self.source_points)
        else:
            s = np.zeros(box.shape)
        if not np.all(np.isfinite(s)):
            raise ValueError(f"source {self.source!r} is NaN/inf on the grid")
        s = np.where(unk, s, 0.0)
        return box, unknown_pad, in_grid_pad, unk, s

    def _tensor_at_vertices(self, box, E_GeV):
        """The tensor (``spatial`` when E_GeV is None) at the box's vertices, checked by the one tensor
        validation of both paths (:func:`fpgal.diffusion.check_tensor_values`)."""
        pts = op.vertex_points_kpc(self.grid, box)
        flat = pts.reshape(-1, 3)
        if E_GeV is None:
            D = check_tensor_values(self.tensor.spatial(flat), flat, f"tensor {self.tensor!r}: spatial()",
                                    units_text="(dimensionless)")
        else:
            D = check_tensor_values(self.tensor(flat, float(E_GeV)), flat,
                                    f"tensor {self.tensor!r} at E_GeV={float(E_GeV):g}")
        return D.reshape(pts.shape[:3] + (3, 3))

    def _spatial_stencil(self, box, unknown_pad, in_grid_pad, E_GeV):
        D = self._tensor_at_vertices(box, E_GeV)
        coef, info = op.stencil(self.grid, box, D, unknown_pad, in_grid_pad, self.scheme)
        if self.scheme == "split" and box.size and info["min_lambda_cm2_s"] <= 0:
            raise ValueError(f"tensor {self.tensor!r} is not positive definite on the grid "
                             f"(smallest eigenvalue {info['min_lambda_cm2_s']:.3g} at E={E_GeV})")
        return coef

    def _energy_edges(self) -> np.ndarray:
        E = self.grid.E_GeV
        if E.size < 2:
            return np.array([E[0] / 1.1, E[0] * 1.1])
        mid = np.sqrt(E[1:] * E[:-1])
        return np.concatenate([[E[0] ** 2 / mid[0]], mid, [E[-1] ** 2 / mid[-1]]])

    def _add_losses(self, coef, box, unknown_pad, E_GeV, k, edges):
        """Add 1/τ, the upwind ∂_E(Ė n) diagonal and the advection stencil; return the Ė coupling."""
        centers = op.cell_points_kpc(self.grid, box).reshape(-1, 3)
        shp = box.shape
        for term in self.catastrophic:
            coef[op.CENTER] += loss_rate_per_s(term, centers, float(E_GeV)).reshape(shp)
        couple = None
        if self.continuous:
            dE = edges[k + 1] - edges[k]
            lo = sum(energy_loss_GeV_per_s(t, centers, float(edges[k])) for t in self.continuous).reshape(shp)
            coef[op.CENTER] += -lo / dE  # −Ė(E_{k−1/2}) n_k / ΔE_k, positive
            if k + 1 < self.grid.n_E:
                hi = sum(energy_loss_GeV_per_s(t, centers, float(edges[k + 1])) for t in self.continuous).reshape(shp)
                couple = -hi / dE  # multiplies n_{k+1} on the right-hand side
        if self.advection is not None:
            hz = self.grid.spacing_kpc[2] * units.kpc_cm
            zf = self.grid.edges_kpc(2)[box.lo[2]:box.hi[2] + 1]
            u = self.advection.uz_cm_s(zf)
            up, um = np.maximum(u, 0.0) / hz, np.minimum(u, 0.0) / hz
            unk_up = unknown_pad[1:-1, 1:-1, 2:]
            unk_dn = unknown_pad[1:-1, 1:-1, :-2]
            coef[op.CENTER] += up[None, None, 1:] - um[None, None, :-1]
            coef[op.offset_index(0, 0, 1)] += np.where(unk_up, um[None, None, 1:], 0.0)
            coef[op.offset_index(0, 0, -1)] += np.where(unk_dn, -up[None, None, :-1], 0.0)
        coef *= unknown_pad[None, 1:-1, 1:-1, 1:-1]
        return couple

    # ------------------------------------------------------------------ solve
    def solve(self, petsc_options: dict | None = None, comm=None, gather: str = "all",
              rtol: float = 1e-10) -> CRDensity | None:
        """Solve on all ranks of ``comm`` (default COMM_WORLD); see :func:`fpgal.solve_steady`.

        ``gather="all"`` (default): every rank returns the same full CRDensity, carrying the
        communicator so that ``save()`` is collective. ``gather="root"``: rank 0 returns it, the
        other ranks None (saves the other ranks' memory for general, energy-by-energy results).
        """
        if gather not in GATHER_MODES:
            raise ValueError(f"gather={gather!r}: expected one of {GATHER_MODES}")
        if isinstance(rtol, bool) or not (isinstance(rtol, (int, float)) and math.isfinite(rtol) and 0 < rtol < 1):
            raise ValueError(f"rtol={rtol!r}: expected a relative tolerance in (0, 1), e.g. 1e-10")
        t_start = time.perf_counter()
        dgrid = DistributedGrid(self.grid, comm)
        ksp = KrylovSolver(dgrid, symmetric=self.symmetric, petsc_options=petsc_options, rtol=rtol)
        try:
            return self._solve(dgrid, ksp, gather, t_start, _user_comm(comm, dgrid.size))
        finally:
            ksp.destroy()
            dgrid.destroy()

    def _solve(self, dgrid, ksp, gather, t_start, mpi_comm):
        """Set up, solve (once for a factorized problem, else energy by energy from the top), gather, and
        wrap the solution in a CRDensity with the run's metadata (None on ranks > 0 with ``gather="root"``)."""
        grid = self.grid
        t0 = time.perf_counter()
        box, unknown_pad, in_grid_pad, unk, s = self._checked_setup(dgrid)
        t_setup = time.perf_counter() - t0
        stats_all = []
        steps = self._solve_factorized if self.factorized else self._solve_energies
        local, t_assembly = steps(dgrid, ksp, box, unknown_pad, in_grid_pad, unk, s, stats_all)
        neg = self._negative_stats(dgrid, local[None] if self.factorized else local, unk)
        full = _collect(dgrid, local, gather)
        meta = self._meta(dgrid, stats_all, neg, t_setup, t_assembly, time.perf_counter() - t_start)
        if mpi_comm is not None:
            meta = mpi_comm.bcast(meta, root=0)        # rank 0's timings on every rank: identical results
        if dgrid.rank != 0 and gather == "root":
            return None
        keep = mpi_comm if gather == "all" else None
        if self.factorized:
            # n(E, x) = spectrum(E)/f(E) · G(x), stored as the two factors (max |energy factor| = 1)
            return CRDensity.factorized(grid, full, self.spectrum_values / self.energy_factor_values, meta=meta,
                                        comm=keep, normalize=True)
        return CRDensity(grid, full, meta=meta, comm=keep)

    def _checked_setup(self, dgrid):
        """Check the inputs and build the rank's box, masks and source on every rank (collectively);
        ValueError when the boundary leaves no unknown cell or the source is zero on all of them."""
        grid = self.grid
        _collective(dgrid, self._evaluate_inputs, "the input check")
        box, unknown_pad, in_grid_pad, unk, s = _collective(dgrid, lambda: self._setup_local(dgrid))
        total = dgrid.allreduce_sum(float(np.sum(np.abs(s))))
        n_unknown = dgrid.allreduce_sum(float(unk.sum()))
        if n_unknown == 0:
            raise ValueError(f"boundary {self.boundary!r} leaves no cell of {grid!r} inside: nothing to solve")
        if not (total > 0):
            raise ValueError(f"source {self.source!r} is identically zero on the cells of {grid!r} inside "
                             f"{self.boundary!r}: empty source (check its position/units, kpc)")
        return box, unknown_pad, in_grid_pad, unk, s

    def _solve_factorized(self, dgrid, ksp, box, unknown_pad, in_grid_pad, unk, s, stats_all):
        """The spatial problem of a separable tensor, solved once: (G on the rank's box, assembly time s)."""
        t0 = time.perf_counter()
        held = [_collective(dgrid, lambda: self._spatial_stencil(box, unknown_pad, in_grid_pad, None))]
        t_assembly = time.perf_counter() - t0 + self._set_operator(dgrid, ksp, held, box, unknown_pad)
        G, st = ksp.solve(s / self._scale, context="spatial problem of the separable tensor")
        stats_all.append(st)
        return G, t_assembly

    def _solve_energies(self, dgrid, ksp, box, unknown_pad, in_grid_pad, unk, s, stats_all):
        """One solve per energy, from the highest down (continuous losses couple n_k to n_{k+1} on the
        right-hand side): (n (nE, lx, ly, lz) on the rank's box, assembly time s)."""
        grid = self.grid
        separable = is_separable(self.tensor)
        coef_S = None
        t_assembly = 0.0
        if separable:
            t0 = time.perf_counter()
            coef_S = _collective(dgrid, lambda: self._spatial_stencil(box, unknown_pad, in_grid_pad, None))
            t_assembly += time.perf_counter() - t0
        edges = self._energy_edges()
        local = np.zeros((grid.n_E,) + box.shape)
        for k in range(grid.n_E - 1, -1, -1):
            E = float(grid.E_GeV[k])
            t0 = time.perf_counter()

            def build(k=k, E=E):
                c = (float(self.energy_factor_values[k]) * coef_S if separable
                     else self._spatial_stencil(box, unknown_pad, in_grid_pad, E))
                return c, self._add_losses(c, box, unknown_pad, E, k, edges)
            built = _collective(dgrid, build)
            held, couple = [built[0]], built[1]
            del built
            t_assembly += time.perf_counter() - t0 + self._set_operator(dgrid, ksp, held, box, unknown_pad)
            rhs = self.spectrum_values[k] * s
            if couple is not None:
                rhs = rhs + np.where(unk, couple * local[k + 1], 0.0)
            x, st = ksp.solve(rhs / self._scale, context=f"E_GeV={E:g}")
            st["E_GeV"] = E
            stats_all.append(st)
            local[k] = x
        return local, t_assembly

    _scale = 1.0

    def _set_operator(self, dgrid, ksp, held: list, box, unknown_pad) -> float:
        """Scale the stencil by its largest diagonal and stream it into PETSc's matrix.

        ``held`` is a one-item list holding the only reference to the 27-point stencil: it is taken
        out and released once the matrix is assembled, so the solve never holds it (memory: PETSc's
        matrix plus one chunk of rows during assembly, docs/numerics.md).
        """
        coef = held.pop()
        unk = unknown_pad[1:-1, 1:-1, 1:-1]
        local_max = float(np.max(coef[op.CENTER][unk])) if unk.any() else 0.0
        scale = dgrid.allreduce_max(local_max)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"operator diagonal is not positive (max {scale}); check the tensor and losses")
        self._scale = scale
        return ksp.set_operator_rows(lambda with_values: op.stencil_row_chunks(
            coef, box, unknown_pad, dgrid.global_index, scale=scale, with_values=with_values))

    @staticmethod
    def _negative_stats(dgrid, arr, unk) -> dict:
        a = np.where(unk[None], arr, 0.0)
        n_neg = dgrid.allreduce_sum(float(np.sum(a < 0)))
        n_cells = dgrid.allreduce_sum(float(unk.sum()) * arr.shape[0])
        w_neg = dgrid.allreduce_sum(float(np.sum(np.abs(a[a < 0]))))
        w_all = dgrid.allreduce_sum(float(np.sum(np.abs(a))))
        return {"negative_cell_fraction": n_neg / max(n_cells, 1.0),
                "negative_weight_fraction": w_neg / w_all if w_all > 0 else 0.0}

    def _meta(self, dgrid, stats, neg, t_setup, t_assembly, t_total) -> dict:
        its = [s["iterations"] for s in stats]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        meta = {
            "solver": "petsc-fv", "scheme": self.scheme, "factorized": bool(self.factorized),
            "ksp_type": stats[0]["ksp_type"], "pc_type": stats[0]["pc_type"],
            "iterations": its[0] if len(its) == 1 else its,
            "iterations_max": max(its),
            "residual_norm": max(s["residual_norm"] for s in stats),
            "true_relative_residual": max(s["true_relative_residual"] for s in stats),
            "residual_limit": min(s["residual_limit"] for s in stats),
            "setup_time_s": t_setup, "assembly_time_s": dgrid.allreduce_max(t_assembly),
            "solve_time_s": dgrid.allreduce_max(sum(s["solve_time_s"] for s in stats)),
            "wall_time_s": t_total, "n_ranks": dgrid.size, "peak_rss_MB_rank0": peak,
            "tensor": repr(self.tensor), "source": repr(self.source), "spectrum": repr(self.spectrum),
            "boundary": repr(self.boundary), "losses": repr(self.losses),
            "models_json": models_json(tensor=self.tensor, source=self.source, spectrum=self.spectrum,
                                       boundary=self.boundary, losses=self.losses),
            # continuous losses move particles between energies: n(E) depends on Q at E' > E, so
            # reweighting the solution by a new injection spectrum (analysis.fit) is not exact
            "energy_coupled": bool(self.continuous),
        }
        meta.update(neg)
        return meta
