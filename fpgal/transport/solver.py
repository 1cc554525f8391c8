"""PETSc back end: DMDA-distributed grid, AIJ matrix from rank-local CSR rows, KSP solve.

Ordering: the DMDA is created with sizes (nx, ny, nz) so DMDA-x is our x axis. Each rank owns the
box ``[xs, xe) × [ys, ye) × [zs, ze)``; PETSc numbers rows rank by rank, and inside a rank's box x
fastest (Fortran order of our [ix, iy, iz] arrays). :class:`DistributedGrid` computes that
"PETSc ordering" index of any global cell (i, j, k) from the ownership ranges.

Solver settings come from the PETSc options database: defaults set in code (CG + GAMG for SPD,
GMRES + GAMG otherwise, rtol 1e-10, GAMG without graph filtering or aggressive coarsening, level
smoothers of six fourth-kind Chebyshev steps with SSOR(ω = 1.65): :data:`GAMG_DEFAULTS`), then
``petsc_options`` (a dict, e.g. from the config) for the keys the command line did not set, then
``ksp.setFromOptions()`` — so ``-ksp_type``, ``-pc_type``, ``-ksp_monitor`` ... on the command line
(``petsc4py.init(sys.argv)``) win. Under MPI the DMDA is cut along z first
(:func:`processor_layout`); with a z-only cut the operator is registered for the optional slab
SSOR level smoother (:mod:`fpgal.transport.smoother`), and ranks that share CPUs get a warning
(:mod:`fpgal.affinity`).
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterable

import numpy as np

from ..core.grid import Grid
from ..core.log import get_logger
from .stencil import LocalBox
from .smoother import register_fine_operator, unregister_fine_operator

log = get_logger(__name__)


class SolverDivergedError(RuntimeError):
    """The Krylov solver stopped with a negative converged reason, or with a positive one but a true
    relative residual above the acceptance limit (:func:`accepted_residual`)."""


#: acceptance of a solve: true relative residual ‖b − A x‖/‖b‖ ≤ min(max(FACTOR·rtol, FLOOR), CEILING)
RESIDUAL_FACTOR = 100.0
RESIDUAL_FLOOR = 1e-6
RESIDUAL_CEILING = 0.1


def accepted_residual(rtol: float) -> float:
    """Largest true relative residual ‖b − A x‖₂/‖b‖₂ a solve with KSP tolerance ``rtol`` may return.

    ``min(max(100 rtol, 1e-6), 0.1)``: CG and left-preconditioned GMRES stop on the *preconditioned*
    residual, which differs from the true one by up to the preconditioner's conditioning (measured:
    true/rtol ≤ 49 on tests/transport and ≤ 12 on the 0.25 kpc Milky Way mesh (UF23, ε = 0.1 … 0.001), rtol = 1e-10); the
    floor 1e-6 leaves room for round-off with very small rtol (the default 1e-10 gives the limit 1e-6),
    and the ceiling 0.1 refuses a "solution" that hardly reduced the residual whatever rtol was asked
    for (x = 0 has true relative residual 1).
    """
    return min(max(RESIDUAL_FACTOR * float(rtol), RESIDUAL_FLOOR), RESIDUAL_CEILING)


def _norm_type_name(norm_type: int) -> str:
    PETSc = petsc()
    for name in ("NONE", "PRECONDITIONED", "UNPRECONDITIONED", "NATURAL"):
        if getattr(PETSc.KSP.NormType, name, None) == norm_type:
            return name.lower()
    return str(norm_type)


def petsc():
    """Import petsc4py.PETSc, initialising it with the command line (so PETSc options there apply)."""
    if "petsc4py.PETSc" not in sys.modules:
        import petsc4py
        from .petsc_options import split_petsc_args
        # only the PETSc-style tokens of the command line (not e.g. pytest's own options)
        _, opts = split_petsc_args(sys.argv[1:])
        args = [sys.argv[0] if sys.argv else "fpgal"]
        for key, value in opts.items():
            args += [f"-{key}"] + ([value] if value != "" else [])
        petsc4py.init(args + ["-no_signal_handler"])  # SIGINT/SIGTERM stay Python's: fpgal.cli ends cleanly
    from petsc4py import PETSc
    return PETSc


def reason_name(reason: int) -> str:
    PETSc = petsc()
    for name in dir(PETSc.KSP.ConvergedReason):
        if not name.startswith("_") and getattr(PETSc.KSP.ConvergedReason, name) == reason:
            return name
    return str(reason)


def processor_layout(shape: tuple[int, int, int], n_ranks: int, min_layers: int = 4) -> tuple[int, int, int]:
    """DMDA processor grid (px, py, pz) that cuts the Galaxy along z first.

    The disc's field is nearly horizontal, so its strong (parallel) couplings run inside z-slabs;
    cutting along z keeps them inside one rank's block of the rank-local SOR smoother, which
    costs fewer CG iterations than PETSc's default cut across the disc (benchmarks/solve.py).
    pz is the largest divisor of ``n_ranks`` that leaves every slab ``min_layers`` cells thick;
    the rest of the ranks (if any) are spread over x and y by PETSc (returned as DECIDE = -1).
    """
    nz = int(shape[2])
    pz = max(d for d in range(1, n_ranks + 1) if n_ranks % d == 0 and (nz // d >= min_layers or d == 1))
    if pz == n_ranks:
        return 1, 1, pz
    return -1, -1, pz


class DistributedGrid:
    """The DMDA over ``grid`` and this rank's box of cells with PETSc-ordering index arithmetic."""

    def __init__(self, grid: Grid, comm=None):
        PETSc = petsc()
        self.grid = grid
        comm = comm if comm is not None else PETSc.COMM_WORLD
        if not isinstance(comm, PETSc.Comm):
            comm = PETSc.Comm(comm)
        nx, ny, nz = grid.shape
        layout = processor_layout(grid.shape, comm.getSize())
        self.da = PETSc.DMDA().create([nx, ny, nz], dof=1, stencil_width=1, proc_sizes=layout,
                                      stencil_type=PETSc.DMDA.StencilType.BOX, comm=comm)
        self.comm = self.da.getComm()
        (xs, xe), (ys, ye), (zs, ze) = self.da.getRanges()
        self.box = LocalBox((xs, ys, zs), (xe, ye, ze))
        lx, ly, lz = self.da.getOwnershipRanges()
        self._sizes = [np.asarray(v, dtype=np.int64) for v in (lx, ly, lz)]
        self._starts = [np.concatenate([[0], np.cumsum(s)[:-1]]) for s in self._sizes]
        P = [len(s) for s in self._sizes]
        # rank r = px + Px (py + Py pz); rank offset = cumulative number of cells of lower ranks
        px, py, pz = np.meshgrid(*(np.arange(p) for p in P), indexing="ij")
        ncell = (self._sizes[0][px] * self._sizes[1][py] * self._sizes[2][pz])
        order = (px + P[0] * (py + P[1] * pz)).ravel()
        counts = np.zeros(P[0] * P[1] * P[2], dtype=np.int64)
        counts[order] = ncell.ravel()
        self._rank_offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._P = P
        self.rank = self.comm.getRank()
        self.size = self.comm.getSize()
        self.n_global = nx * ny * nz
        if self.size > 1:
            from .affinity import warn_if_ranks_share_cpus
            warn_if_ranks_share_cpus(self.comm)

    @property
    def cuts_z_only(self) -> bool:
        """True when every rank owns whole z-layers (processor grid 1 × 1 × P)."""
        return self._P[0] == 1 and self._P[1] == 1

    @property
    def layer_cells(self) -> int:
        """Rows per z-layer in PETSc ordering (with :attr:`cuts_z_only`)."""
        return self.grid.shape[0] * self.grid.shape[1]

    def global_index(self, i, j, k) -> np.ndarray:
        """PETSc-ordering row of global cells (i, j, k) (int arrays, clipped into the grid)."""
        idx = []
        for a, v in enumerate((i, j, k)):
            v = np.clip(np.asarray(v, dtype=np.int64), 0, self.grid.shape[a] - 1)
            p = np.searchsorted(self._starts[a], v, side="right") - 1
            idx.append((v, p))
        (i, pi), (j, pj), (k, pk) = idx
        rank = pi + self._P[0] * (pj + self._P[1] * pk)
        li = i - self._starts[0][pi]
        lj = j - self._starts[1][pj]
        lk = k - self._starts[2][pk]
        return self._rank_offset[rank] + li + self._sizes[0][pi] * (lj + self._sizes[1][pj] * lk)

    def gather(self, local: np.ndarray, root: int = 0) -> np.ndarray | None:
        """Full (…, nx, ny, nz) array on ``root`` from the ranks' (…, lx, ly, lz) boxes; None elsewhere."""
        if self.size == 1:
            return local
        mpi = self.comm.tompi4py()
        parts = mpi.gather((self.box, local), root=root)
        if mpi.Get_rank() != root:
            return None
        out = np.zeros(local.shape[:-3] + self.grid.shape, dtype=local.dtype)
        for box, arr in parts:
            out[..., box.lo[0]:box.hi[0], box.lo[1]:box.hi[1], box.lo[2]:box.hi[2]] = arr
        return out

    def allreduce_sum(self, value: float) -> float:
        if self.size == 1:
            return float(value)
        from mpi4py import MPI
        return float(self.comm.tompi4py().allreduce(float(value), op=MPI.SUM))

    def allreduce_max(self, value: float) -> float:
        if self.size == 1:
            return float(value)
        from mpi4py import MPI
        return float(self.comm.tompi4py().allreduce(float(value), op=MPI.MAX))

    def destroy(self) -> None:
        self.da.destroy()


@contextmanager
def _options(defaults: dict[str, str], user: dict[str, str] | None):
    """Temporarily insert options not already set (command line wins); remove what we inserted."""
    PETSc = petsc()
    opts = PETSc.Options()
    inserted = []
    merged = dict(defaults)
    merged.update({str(k).lstrip("-"): ("" if v is None else str(v)) for k, v in (user or {}).items()})
    for key, value in merged.items():
        if not opts.hasName(key):
            opts.setValue(key, value)
            inserted.append(key)
    try:
        yield opts
    finally:
        for key in inserted:
            opts.delValue(key)


#: GAMG tuned for strongly anisotropic SPD operators (benchmarks/gamg_options.py, docs/numerics.md
#: "The level smoother"; ε = 1e-3, UF23: 51 → 29 CG iterations on the 0.25 kpc mesh on one rank, 82 → 55
#: on 0.125 kpc on two): no graph filtering (threshold −1: the filtered copy of the operator was the
#: set-up's memory peak, 0.11 kB per cell), no aggressive coarsening, and on every level six steps of the
#: fourth-kind Chebyshev smoother with optimised weights (Lottes 2022) around over-relaxed symmetric SOR
#: (ω = 1.65).
GAMG_DEFAULTS = {"pc_gamg_threshold": "-1", "pc_gamg_aggressive_coarsening": "0",
                 "mg_levels_ksp_type": "chebyshev", "mg_levels_ksp_chebyshev_kind": "opt_fourth",
                 "mg_levels_ksp_max_it": "6", "mg_levels_pc_type": "sor", "mg_levels_pc_sor_omega": "1.65"}

#: The first defaults (until 30 Nov 2026; the baseline of docs/numerics.md's tables), to compare with:
#: threshold 0.01 halved per level, three classic Chebyshev steps around SSOR(ω = 1.5).
FIRST_GAMG_OPTIONS = {"pc_gamg_threshold": "0.01", "pc_gamg_threshold_scale": "0.5",
                      "mg_levels_ksp_chebyshev_kind": "first", "mg_levels_ksp_max_it": "3",
                      "mg_levels_pc_sor_omega": "1.5"}


def default_options(symmetric: bool = True, rtol: float = 1e-10, max_it: int = 2000) -> dict[str, str]:
    """fpgal's PETSc defaults: CG (SPD) or GMRES(100) with GAMG_DEFAULTS, ``rtol``, ``max_it``."""
    options = {"ksp_type": "cg" if symmetric else "gmres", "pc_type": "gamg",
               "ksp_rtol": repr(rtol), "ksp_max_it": str(max_it), **GAMG_DEFAULTS}
    if not symmetric:
        options["ksp_gmres_restart"] = "100"
    return options


class KrylovSolver:
    """A KSP on the DMDA's communicator; ``solve(A_csr, b_local) -> (x_local, stats)``.

    ``symmetric`` picks the defaults: CG + GAMG (SPD) or GMRES + GAMG. Keeps the KSP between calls
    so that energy loops reuse it; :meth:`destroy` frees everything.
    """

    def __init__(self, dgrid: DistributedGrid, symmetric: bool = True, petsc_options: dict | None = None,
                 rtol: float = 1e-10, max_it: int = 2000):
        self.dgrid = dgrid
        self.symmetric = symmetric
        self.defaults = default_options(symmetric, rtol, max_it)
        # several ranks cut along z only: the operator is registered for the optional two-colour slab
        # SSOR smoother (smoother.py; -mg_levels_pc_type python -mg_levels_pc_python_type
        # fpgal.transport.smoother.SlabSSOR), which keeps the one-rank CG iteration count on any number
        # of ranks but costs more per sweep than PCSOR, so it is not the default (docs/numerics.md)
        self.slab_layout = dgrid.size > 1 and dgrid.cuts_z_only
        self.user = dict(petsc_options or {})
        self.ksp = None
        self.A = None
        self.b = None
        self.x = None

    def set_operator(self, indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> float:
        PETSc = petsc()
        t0 = time.perf_counter()
        n_local = self.dgrid.box.size
        N = self.dgrid.n_global
        self._replace_matrix()
        self.A = PETSc.Mat().createAIJ(size=((n_local, N), (n_local, N)),
                                        csr=(indptr.astype(PETSc.IntType, copy=False), cols.astype(PETSc.IntType, copy=False),
                                             vals.astype(PETSc.ScalarType, copy=False)), comm=self.dgrid.comm)
        self._finish_operator()
        return time.perf_counter() - t0

    def set_operator_rows(self, row_chunks: Callable[[bool], Iterable]) -> float:
        """Assemble the operator straight into a preallocated PETSc matrix from row chunks.

        ``row_chunks(with_values)`` returns an iterator over ``(rows (n,), cols (n, 27), vals)`` with
        column −1 for absent entries (:func:`fpgal.transport.stencil.stencil_row_chunks`); it is
        called twice: once for the exact per-row preallocation (diagonal / off-diagonal block
        counts), once to insert the values. Peak memory is PETSc's matrix plus one chunk.
        """
        PETSc = petsc()
        t0 = time.perf_counter()
        n_local = self.dgrid.box.size
        N = self.dgrid.n_global
        d_nnz = np.zeros(n_local, dtype=PETSc.IntType)
        o_nnz = np.zeros(n_local, dtype=PETSc.IntType)
        first = None
        for rows, cols, _ in row_chunks(False):
            first = int(rows[0]) if first is None else first
            local = rows - first
            present = cols >= 0
            own = present & (cols >= first) & (cols < first + n_local)
            d_nnz[local] = own.sum(axis=1)
            o_nnz[local] = (present & ~own).sum(axis=1)
        self._replace_matrix()
        self.A = PETSc.Mat().createAIJ(size=((n_local, N), (n_local, N)), nnz=(d_nnz, o_nnz), comm=self.dgrid.comm)
        del d_nnz, o_nnz
        self.A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        for rows, cols, vals in row_chunks(True):
            self.A.setValuesRCV(rows.astype(PETSc.IntType).reshape(-1, 1), cols.astype(PETSc.IntType, copy=False),
                                vals.astype(PETSc.ScalarType, copy=False), addv=PETSc.InsertMode.INSERT_VALUES)
        self._finish_operator()
        return time.perf_counter() - t0

    def _replace_matrix(self) -> None:
        if self.A is not None:
            unregister_fine_operator(self.A)
            self.A.destroy()
            self.A = None

    def _finish_operator(self) -> None:
        PETSc = petsc()
        if self.symmetric:
            self.A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
            self.A.setOption(PETSc.Mat.Option.SPD, True)
        self.A.assemble()
        if self.slab_layout:
            register_fine_operator(self.A, self.dgrid.layer_cells)
        if self.ksp is None:
            self.ksp = PETSc.KSP().create(comm=self.dgrid.comm)
            self.b = self.dgrid.da.createGlobalVec()
            self.x = self.dgrid.da.createGlobalVec()
            # options stay in the database until destroy(): GAMG reads its level options at set-up
            self._opts = _options(self.defaults, self.user)
            self._opts.__enter__()
        self.ksp.setOperators(self.A)
        self.ksp.setFromOptions()

    def solve(self, rhs_local: np.ndarray, x0_local: np.ndarray | None = None,
              context: str = "") -> tuple[np.ndarray, dict]:
        """Solve A x = b; ``rhs_local`` has the box's shape (lx, ly, lz).

        The solution is accepted only if the KSP converged (reason > 0) **and** its true relative
        residual ‖b − A x‖₂ / ‖b‖₂ meets :func:`accepted_residual` of the KSP's rtol (the KSP itself
        tests the preconditioned norm for CG/GMRES, which can be small while the true residual is not,
        e.g. on an indefinite operator). Otherwise raises :class:`SolverDivergedError` — on every rank
        alike, since the norms are global. ``context`` (e.g. ``"E_GeV=100"``) goes into the message.
        """
        PETSc = petsc()
        self.b.array[:] = rhs_local.ravel(order="F")
        if x0_local is not None:
            self.x.array[:] = x0_local.ravel(order="F")
            self.ksp.setInitialGuessNonzero(True)
        else:
            self.x.set(0.0)
            self.ksp.setInitialGuessNonzero(False)
        t0 = time.perf_counter()
        self.ksp.solve(self.b, self.x)
        t_solve = time.perf_counter() - t0
        reason = self.ksp.getConvergedReason()
        its = self.ksp.getIterationNumber()
        res = self.ksp.getResidualNorm()
        where = f" ({context})" if context else ""
        kind = f"{self.ksp.getType()}/{self.ksp.getPC().getType()}"
        if reason < 0:
            raise SolverDivergedError(
                f"KSP {kind}{where} did not converge: reason "
                f"{reason_name(reason)} ({reason}) after {its} iterations, residual norm {res:.3e}. "
                "Try other PETSc options (e.g. -ksp_type gmres, -pc_gamg_threshold 0.02, -ksp_max_it 5000).")
        r = self.b.duplicate()
        self.A.mult(self.x, r)
        r.aypx(-1.0, self.b)
        bnorm = self.b.norm()
        rnorm = r.norm()
        true_rel = rnorm / bnorm if bnorm > 0 else 0.0
        r.destroy()
        rtol, atol, _, _ = self.ksp.getTolerances()
        limit = accepted_residual(rtol)
        if not (true_rel <= limit or rnorm <= RESIDUAL_FACTOR * atol):
            norm = _norm_type_name(self.ksp.getNormType())
            raise SolverDivergedError(
                f"KSP {kind}{where} stopped with {reason_name(reason)} after {its} iterations, but the true "
                f"relative residual |b - A x|/|b| = {true_rel:.3e} exceeds the acceptance limit {limit:.1e} "
                f"(max({RESIDUAL_FACTOR:g} x rtol = {RESIDUAL_FACTOR * rtol:.1e}, {RESIDUAL_FLOOR:g}), at most "
                f"{RESIDUAL_CEILING:g}; the KSP tested the {norm} norm): the result would be wrong. Is the operator "
                "positive definite (the tensor at every vertex; losses)? Try -ksp_type gmres, "
                "-ksp_norm_type unpreconditioned, a smaller -ksp_rtol or scheme='split'.")
        stats = {"ksp_type": self.ksp.getType(), "pc_type": self.ksp.getPC().getType(), "iterations": int(its),
                 "residual_norm": float(res), "true_relative_residual": float(true_rel),
                 "residual_limit": float(limit), "converged_reason": reason_name(reason), "solve_time_s": t_solve}
        x = self.x.array.copy().reshape(self.dgrid.box.shape, order="F")
        return x, stats

    def destroy(self) -> None:
        if getattr(self, "_opts", None) is not None:
            self._opts.__exit__(None, None, None)
            self._opts = None
        if self.A is not None:
            unregister_fine_operator(self.A)
        for obj in (self.ksp, self.A, self.b, self.x):
            if obj is not None:
                obj.destroy()
        self.ksp = self.A = self.b = self.x = None
