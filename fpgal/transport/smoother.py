"""Multigrid level smoother that keeps the 1-rank convergence on N ranks: two-colour z-slab SSOR.

PETSc's SOR is rank-local: each rank sweeps its own rows and treats its neighbours' values as
fixed (block Jacobi between ranks). At ε = 1e-3 that costs CG iterations: on the 0.25 kpc Milky
Way mesh, 51 on one rank but 60 on two. Cutting only the finest level of the one-rank hierarchy
into two SOR blocks reproduces the 60 (and 42 → 53 at 0.5 kpc), so the loss is the fine level's
block cut, not the aggregation or the coarse levels (docs/numerics.md, "Why 2 ranks need 60
iterations instead of 51").

:class:`SlabSSOR` is a symmetric block Gauss–Seidel sweep over z-slabs in two colours. The DMDA is
cut along z only (``processor_layout`` → (1, 1, P)), so every rank owns whole z-layers, stored
contiguously. Each rank splits its layers into a lower and an upper half; colour 0 = all lower
halves, colour 1 = all upper halves. Slabs of one colour never touch (a 27-point stencil reaches
one layer), so they are swept concurrently, and every interface — inside a rank or across ranks —
sees fresh values from the other side, as in a lexicographic sweep:

    forward:  SOR↓ on colour 0 → halo exchange → SOR↓ on colour 1
    backward: SOR↑ on colour 1 → halo exchange → SOR↑ on colour 0

with ``SOR↓/↑`` the forward/backward sweep (relaxation ω) of the slab's diagonal block against the
right-hand side minus its couplings to the other slabs (colour 1's two sweeps run as one symmetric
sweep, nothing changes between them). The composition is a symmetric (SSOR) preconditioner for the
two-colour slab ordering, so CG stays valid. On one rank it is PETSc's lexicographic SSOR. Measured
(ε = 1e-3, 0.25 kpc, the first GAMG defaults): 51 CG iterations on 1, 2, 4 and 8 ranks (PCSOR: 51, 60,
60, 63); 43 against 53 on 2 ranks at 0.5 kpc. With today's fourth-kind Chebyshev(5) smoother on
0.125 kpc: 53 on 2 ranks against PCSOR's 63 (52 on one rank). Each application costs ~1.45× PCSOR's (21 vs 14.5 ms
on 2 ranks at 0.25 kpc), which on the 2-core CI machine eats the saved iterations, so it is opt-in.

Use: ``-mg_levels_pc_type python -mg_levels_pc_python_type fpgal.transport.smoother.SlabSSOR``
(command line or the config's [solver] table). The solver registers its operator with
:func:`register_fine_operator` whenever several ranks cut the grid along z only; on other operators
(GAMG's coarse levels, or without that registration) the class applies PETSc's SOR exactly as PCSOR
does. ``-mg_levels_pc_sor_omega`` sets ω (default 1.5).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_FINE_LAYER_CELLS: dict[int, int] = {}


def register_fine_operator(A, layer_cells: int) -> None:
    """Mark ``A`` for slab smoothing: a petsc4py Mat whose rows are numbered z-layer by z-layer,
    ``layer_cells`` rows per layer, each rank owning whole layers, and whose rows couple only to
    their own and the two neighbouring layers (a stencil of width one, like the 27-point operator)."""
    _FINE_LAYER_CELLS[int(A.handle)] = int(layer_cells)


def unregister_fine_operator(A) -> None:
    _FINE_LAYER_CELLS.pop(int(A.handle), None)


class _Slab:
    """One rank's half, rows [lo, hi): its diagonal block (SeqAIJ, for MatSOR) and the couplings of
    its interface rows to the rest of the rank (``C_own``) and to the neighbours' layers (``C_ghost``)."""

    def __init__(self, PETSc, D, lo: int, hi: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                 n_local: int, ghost_of_col: np.ndarray):
        self.D, self.lo, self.hi = D, lo, hi
        mine = (rows >= lo) & (rows < hi) & ((cols < lo) | (cols >= hi))
        rows, cols, vals = rows[mine] - lo, cols[mine], vals[mine]
        self.rows = np.unique(rows)
        r = np.searchsorted(self.rows, rows)
        own = (cols >= 0) & (cols < n_local)
        self.C_own = sp.csr_matrix((vals[own], (r[own], cols[own])), shape=(len(self.rows), n_local))
        self.C_ghost = sp.csr_matrix((vals[~own], (r[~own], np.searchsorted(ghost_of_col, cols[~own]))),
                                     shape=(len(self.rows), len(ghost_of_col)))
        self.rhs = PETSc.Vec().createSeq(hi - lo, comm=PETSc.COMM_SELF)
        self.x = PETSc.Vec().createSeq(hi - lo, comm=PETSc.COMM_SELF)

    def set_rhs(self, r: np.ndarray, y: np.ndarray, ghosts: np.ndarray | None) -> None:
        out = self.rhs.getArray()
        out[:] = r[self.lo:self.hi]
        if ghosts is not None and len(self.rows):
            out[self.rows] -= self.C_own @ y + self.C_ghost @ ghosts

    def destroy(self) -> None:
        for obj in (self.D, self.rhs, self.x):
            obj.destroy()


class SlabSSOR:
    """petsc4py ``PC`` python context: two-colour z-slab SSOR on the registered fine operator,
    PETSc's rank-local SOR (as PCSOR) on every other operator."""

    def __init__(self) -> None:
        self.slabs: list[_Slab] = []
        self.scatter = None
        self.ghosts = None
        self.omega = 1.5
        self.A = None

    def setUp(self, pc) -> None:
        from petsc4py import PETSc
        self.destroy(pc)
        self.A = pc.getOperators()[1]
        prefix = pc.getOptionsPrefix() or ""
        self.omega = PETSc.Options(prefix).getReal("pc_sor_omega", 1.5)
        if not 0.0 < self.omega < 2.0:
            raise ValueError(f"{prefix}pc_sor_omega = {self.omega}: SOR needs 0 < ω < 2")
        layer = _FINE_LAYER_CELLS.get(int(self.A.handle))
        if layer is not None and self.A.getComm().getSize() > 1:
            self._build_slabs(PETSc, layer)

    def _build_slabs(self, PETSc, layer: int) -> None:
        """Split this rank's z-layers into two halves; everything is cut out by PETSc (no full CSR copy):
        the halves' diagonal blocks from the local diagonal block, and the few rows next to a slab
        interface (one z-layer each) with their couplings."""
        A = self.A
        rs, re_ = A.getOwnershipRange()
        N = A.getSize()[0]
        n = re_ - rs
        n_layers = n // layer
        whole_layers = n % layer == 0 and n_layers >= 2
        from mpi4py import MPI
        if not A.getComm().tompi4py().allreduce(whole_layers, op=MPI.LAND):
            return                                              # not whole z-layers everywhere: plain SOR
        half = (n_layers // 2) * layer
        glo, ghi = max(rs - layer, 0), min(re_ + layer, N)
        interface = np.unique(np.concatenate([np.arange(0, layer), np.arange(half - layer, half + layer),
                                              np.arange(n - layer, n)])) + rs
        rows_is = PETSc.IS().createGeneral(interface.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
        cols_is = PETSc.IS().createStride(ghi - glo, first=glo, step=1, comm=PETSc.COMM_SELF)
        sub = A.createSubMatrices(rows_is, cols_is)[0]
        indptr, cols, vals = sub.getValuesCSR()
        for obj in (sub, rows_is, cols_is):
            obj.destroy()
        rows = np.repeat(interface - rs, np.diff(indptr))
        cols_local = cols.astype(np.int64) + (glo - rs)         # own rows 0..n-1, ghost layers outside
        ghost_of_col = np.concatenate([np.arange(glo, rs), np.arange(re_, ghi)]).astype(np.int64) - rs
        Ad = A.getDiagonalBlock()
        for lo, hi in ((0, half), (half, n)):
            block = PETSc.IS().createStride(hi - lo, first=lo, step=1, comm=PETSc.COMM_SELF)
            D = Ad.createSubMatrix(block, block)
            block.destroy()
            self.slabs.append(_Slab(PETSc, D, lo, hi, rows, cols_local, vals, n, ghost_of_col))
        x = A.createVecRight()
        ghost_global = (ghost_of_col + rs).astype(PETSc.IntType)
        self.ghosts = PETSc.Vec().createSeq(len(ghost_global), comm=PETSc.COMM_SELF)
        index = PETSc.IS().createGeneral(ghost_global, comm=PETSc.COMM_SELF)
        self.scatter = PETSc.Scatter().create(x, index, self.ghosts, None)
        index.destroy()
        x.destroy()

    def _exchange(self, y) -> np.ndarray:
        from petsc4py import PETSc
        self.scatter.scatter(y, self.ghosts, addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        return self.ghosts.getArray(readonly=True)

    def apply(self, pc, x, y) -> None:
        from petsc4py import PETSc
        SOR = PETSc.Mat.SORType
        if not self.slabs:
            self.A.SOR(x, y, self.omega, SOR.LOCAL_SYMMETRIC_SWEEP | SOR.ZERO_INITIAL_GUESS, 0.0, 1, 1)
            return
        r = x.getArray(readonly=True)
        y.set(0.0)
        ya = y.getArray()
        lower, upper = self.slabs
        # forward on the lower halves (y = 0 everywhere, so rhs = r), exchange; the upper halves'
        # forward and backward sweeps follow each other with unchanged neighbours, so they are one
        # symmetric sweep from zero (PETSc then needs ~one matrix pass for both); exchange; backward
        # on the lower halves
        lower.set_rhs(r, ya, None)
        self._sweep(lower, ya, SOR.FORWARD_SWEEP | SOR.ZERO_INITIAL_GUESS)
        upper.set_rhs(r, ya, self._exchange(y))
        self._sweep(upper, ya, SOR.SYMMETRIC_SWEEP | SOR.ZERO_INITIAL_GUESS)
        lower.set_rhs(r, ya, self._exchange(y))
        self._sweep(lower, ya, SOR.BACKWARD_SWEEP)

    def _sweep(self, slab: _Slab, ya: np.ndarray, kind) -> None:
        slab.x.placeArray(ya[slab.lo:slab.hi])
        slab.D.SOR(slab.rhs, slab.x, self.omega, kind, 0.0, 1, 1)
        slab.x.resetArray()

    def destroy(self, pc=None) -> None:
        for slab in self.slabs:
            slab.destroy()
        self.slabs = []
        for obj in (self.scatter, self.ghosts):
            if obj is not None:
                obj.destroy()
        self.scatter = self.ghosts = None
