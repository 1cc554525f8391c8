"""`steady_state`: the stationary CR density −∇·(D∇n) = Q, n = 0 on the escape boundary, by particles.

Estimator. The steady solution is n(x) = ∫ Q(x₀) G(x, x₀) d³x₀ with G(x, x₀) = ∫₀^∞ p(x, t | x₀) dt the
time-integrated propagator of the absorbed process. Injecting N particles with density ∝ Q (total
rate Q_tot = ∫Q d³x), each carrying the rate w = Q_tot / N, and counting the time each spends in a cell,

    n_cell = (w / V_cell) Σ_particles (time in the cell)         [``estimator="residence"``]

(trapezoid rule: each step adds dt to the cell of its start point, the injection point only dt/2 —
the plain left-point sum would over-count the source cells by dt/2 per particle). Summing snapshots of a burst taken
at times t_k with quadrature widths Δ_k (the approach of the reference study with CRPropa) is the
same integral on a coarser time lattice: n_cell = (w / V_cell) Σ_k Δ_k N_cell(t_k) [``"snapshots"``];
Δ_k are the widths of the cells of the time lattice with edges 0, (t_{k−1}+t_k)/2, …, t_K + (t_K−t_{K−1})/2.

Energies. With a separable tensor D = D∥(E) S(x) the trajectories in τ = D∥(E) t (kpc² here) do not
depend on E: one simulation in τ gives n_unit(x) = (Q_tot,rel/N V_cell) Σ (τ in cell), and
n(E, x) = spectrum(E) / D∥(E) × n_unit(x). Non-separable tensors are simulated energy by energy.
Catastrophic losses (rate 1/τ_loss(x, E)) weight each particle by exp(−∫dt/τ_loss) per energy.

Errors. The chunks of particles are independent batches; the 1σ error of each cell follows from the
scatter of the chunk tallies (ratio estimator, Cochran 1977 §6): Var(ΣH) ≈ B/(B−1) Σ_c (H_c − N_c m)²,
m = ΣH/N, B chunks (at least ``min_batches``).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from ..core import units
from ..model.boundary import Box
from ..model.diffusion import check_tensor_values, energy_factors, is_separable
from ..core.grid import Grid
from ..core.log import get_logger
from ..result import CRDensity
from ..transport.losses import loss_rate_per_s
from .coefficients import FD_STEP_KPC, SDECoefficients
from .engine import check_mode, simulate
from ..core.checks import check_seed, positive_int, positive_number, spectrum_values
from ..core.mpi import collective
from ..core.modelbase import models_json
from .parallel import allreduce_sum, chunk_seeds, chunk_sizes, default_comm, my_chunks, rank_size
from .richardson import richardson as richardson_combine
from .stepping import TRACE_STEP_KPC
from .kernels import KERNELS, choose_kernel, run_residence_chunk
from .stepsize import default_step
from .table import TabulatedFrame, TabulatedTensor, tabulate, tabulate_frame

log = get_logger(__name__)

ESTIMATORS = ("residence", "snapshots")


# ------------------------------------------------------------------------------------------ inputs
def source_weights(grid: Grid, source, boundary, points_per_axis: int = 2) -> np.ndarray:
    """Relative source density per cell (nx, ny, nz), zero in cells whose centre is outside ``boundary``.

    Cell averages by Gauss–Legendre quadrature (``fpgal.sources.cell_averages``, ``deposit(grid)`` for
    point sources) — the same numbers the grid solver puts on its right-hand side — or an array of the
    grid shape.
    """
    inside = boundary.inside(grid.cell_centers_kpc().reshape(-1, 3)).reshape(grid.shape)
    if callable(source) or hasattr(source, "deposit"):
        from ..model.sources import cell_averages
        q = np.asarray(cell_averages(source, grid, points_per_axis, mask=inside), dtype=float)
        if q.shape != grid.shape:
            raise ValueError(f"source {source!r} gave cell values of shape {q.shape}, expected {grid.shape}")
    else:
        q = np.asarray(source, dtype=float)
        if q.shape != grid.shape:
            raise ValueError(f"source array has shape {q.shape}, expected the grid shape {grid.shape}")
    bad = ~np.isfinite(q) | (q < 0)
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), grid.shape)
        x = grid.cell_centers_kpc()[i]
        raise ValueError(f"source {source!r}: the SDE needs finite, non-negative relative densities; cell "
                         f"{tuple(int(v) for v in i)} at ({', '.join(f'{v:.4g}' for v in x)}) kpc has {float(q[i])!r} "
                         f"({int(bad.sum())} bad cells); split a signed source into two runs")
    q = np.where(inside, q, 0.0)
    if not np.any(q > 0):
        raise ValueError(f"source {source!r} is zero in every cell inside {boundary!r}: nothing to inject")
    return q


def sample_positions(grid: Grid, q_cells: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions with density ∝ ``q_cells``: cell counts from a multinomial, uniform within a cell,
    in random order (so that any contiguous block of particles is an independent sample)."""
    p = q_cells.reshape(-1) / q_cells.sum()
    counts = rng.multinomial(n, p)
    cells = rng.permutation(np.repeat(np.arange(p.size), counts))   # random order: iid sub-batches
    idx = np.stack(np.unravel_index(cells, grid.shape), axis=1)
    return grid.lower_kpc + (idx + rng.random((n, 3))) * grid.spacing_kpc


def _loss_rate_function(losses):
    """Normalise ``losses`` to ``rate(xyz_kpc, E_GeV) -> 1/τ_loss`` in 1/s (N,), or None.

    Accepts the catastrophic terms of :mod:`fpgal.transport.losses` (``rate_per_s(xyz, E)``; one or a list,
    rates add), objects with ``rate_per_s`` or ``timescale_s``, or a plain callable ``(xyz, E) -> 1/s``.
    Continuous losses and advection are not implemented in the SDE solver (clear error).
    """
    if losses is None:
        return None
    items = list(losses) if isinstance(losses, (list, tuple)) else [losses]
    rates = []
    for item in items:
        kind = getattr(item, "kind", "catastrophic")
        if kind != "catastrophic":
            raise NotImplementedError(f"SDE solver: loss term {item!r} of kind {kind!r} is not supported; only "
                                      "catastrophic losses (weights exp(-∫dt/τ)) are")
        if any(callable(getattr(item, name, None)) for name in ("rate_per_s", "rate_s")):
            rates.append(lambda xyz, E, it=item: loss_rate_per_s(it, xyz, E))     # the solvers' one dispatch
        else:
            if callable(getattr(item, "timescale_s", None)):
                rates.append(lambda xyz, E, it=item: 1.0 / np.asarray(it.timescale_s(xyz, E), dtype=float))
            elif callable(item):
                rates.append(item)
            else:
                raise TypeError(f"losses: {item!r} is not a catastrophic loss (callable (xyz_kpc, E_GeV) -> 1/s, or "
                                "an object with rate_per_s / timescale_s)")
    if len(rates) == 1:
        return rates[0]
    return lambda xyz, E: sum(np.asarray(r(xyz, E), dtype=float) for r in rates)


def snapshot_widths(times: np.ndarray) -> np.ndarray:
    """Quadrature widths Δ_k of sorted snapshot times (cells with edges 0, midpoints, last + half gap)."""
    t = np.asarray(times, dtype=float)
    edges = np.concatenate([[0.0], 0.5 * (t[1:] + t[:-1]), [t[-1] + 0.5 * (t[-1] - t[-2])]])
    return np.diff(edges)


# ------------------------------------------------------------------------------------------ tallies
class _Tally:
    """Residence of one chunk in the grid cells, per sub-batch, buffered for ``bincount``.

    ``hist[h, s * n_cells + cell]``: histogram h (one per energy with losses, else one), sub-batch s
    (particle i of the chunk belongs to sub-batch ``i * n_sub // n_particles``), in units of dτ.
    """

    def __init__(self, grid: Grid, n_particles: int, n_sub: int, n_hist: int, step_weights: dict | None,
                 loss=None, buffer: int = 1 << 22):
        self.grid = grid
        self.n_cells = grid.n_cells
        self.n_sub = n_sub
        self.n_hist = n_hist
        self.step_weights = step_weights      # None: residence (every step); else {step: weight}
        self.loss = loss                      # None or (rates(x) -> (N, n_hist) per kpc², dtau)
        self.strides = np.array([grid.shape[1] * grid.shape[2], grid.shape[2], 1], dtype=np.int64)
        self.sub_offset = (np.arange(n_particles, dtype=np.int64) * n_sub // n_particles) * self.n_cells
        self.sub_sizes = np.bincount(self.sub_offset // self.n_cells, minlength=n_sub)
        self.hist = np.zeros((n_hist, n_sub * self.n_cells))
        self.buffer = buffer
        self._idx: list[np.ndarray] = []     # unit-weight entries
        self._widx: list[np.ndarray] = []    # weighted entries and their weights (n, n_hist)
        self._w: list[np.ndarray] = []
        self._n = 0
        self.log_w = np.zeros((n_particles, n_hist)) if loss is not None else None
        self.steps = 0

    def before_step(self, k: int, x: np.ndarray, ids: np.ndarray) -> None:
        self.steps = k + 1
        # trapezoid rule in time: the start point (k = 0) counts half a step (the left-point rule would
        # add a bias of dτ/2 per particle in its source cell)
        wk = 0.5 if k == 0 else 1.0
        if self.step_weights is not None:
            wk = self.step_weights.get(k)
        if wk is not None:
            idx, inside = self.grid.cell_index(x)
            flat = idx @ self.strides + self.sub_offset[ids]
            sel = ids
            if not np.all(inside):
                flat, sel = flat[inside], ids[inside]
            if self.loss is None and wk == 1.0:
                self._idx.append(flat)
            else:
                w = np.full((len(flat), self.n_hist), wk) if self.loss is None else wk * np.exp(self.log_w[sel])
                self._widx.append(flat)
                self._w.append(w)
            self._n += len(flat)
            if self._n >= self.buffer:
                self.flush()
        if self.loss is not None:
            rates, dtau = self.loss
            self.log_w[ids] -= rates(x) * dtau

    def absorbed(self, k, ids, x_exit) -> None:
        pass

    def flush(self) -> None:
        size = self.n_sub * self.n_cells
        if self._widx:
            flat = np.concatenate(self._widx)
            w = np.concatenate(self._w)
            for h in range(self.n_hist):
                self.hist[h] += np.bincount(flat, weights=w[:, h], minlength=size)
        if self._idx:
            self.hist += np.bincount(np.concatenate(self._idx), minlength=size)[None, :]
        self._idx, self._widx, self._w, self._n = [], [], [], 0

    def moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Σ_s H_s, Σ_s H_s², Σ_s H_s N_s) over the sub-batches, each (n_hist, n_cells)."""
        self.flush()
        H = self.hist.reshape(self.n_hist, self.n_sub, self.n_cells)
        N = self.sub_sizes.astype(float)[None, :, None]
        return H.sum(axis=1), (H ** 2).sum(axis=1), (H * N).sum(axis=1)

    def total_moments(self) -> np.ndarray:
        """(Σ_s R_s, Σ_s R_s², Σ_s R_s N_s) of the sub-batch totals R_s = Σ_cells H_s, shape (3, n_hist)."""
        self.flush()
        R = self.hist.reshape(self.n_hist, self.n_sub, self.n_cells).sum(axis=2)
        N = self.sub_sizes.astype(float)[None, :]
        return np.stack([R.sum(axis=1), (R ** 2).sum(axis=1), (R * N).sum(axis=1)])


def batch_plan(n_particles: int, chunk_size: int, min_batches: int, n_cells: int, n_hist: int,
               max_tally_values: int = 1 << 25):
    """Chunk sizes and sub-batches per chunk (≥ ``min_batches`` batches in all where memory allows)."""
    sizes = chunk_sizes(n_particles, chunk_size)
    n_sub = max(1, -(-int(min_batches) // len(sizes)))
    n_sub = int(min(n_sub, max(1, max_tally_values // max(n_cells * n_hist, 1)), int(sizes.min())))
    return sizes, n_sub


# ------------------------------------------------------------------------------------------ main entry
def steady_state(grid: Grid, tensor, source, spectrum, n_particles: int, seed=0, boundary=None,
                 mode: str = "ito", dt_s: float | None = None, losses=None, *, step_kpc: float | None = None,
                 E_ref_GeV: float = 1000.0, estimator: str = "residence", snapshot_times_s=None,
                 max_steps: int = 1_000_000, chunk_size: int = 1 << 16, min_batches: int = 64,
                 bridge: bool = True, lookup_spacing_kpc: float | None = None, fd_step_kpc: float = FD_STEP_KPC,
                 trace_step_kpc: float = TRACE_STEP_KPC, source_points: int = 2,
                 comm="auto", richardson: bool | str = True, kernel: str = "auto") -> CRDensity:
    """Steady CR density of −∇·(D∇n) = Q(E, x) = spectrum(E) source(x), n = 0 on ``boundary``, by SDE.

    Parameters
    ----------
    grid : Grid — output cells and energies; the boundary must lie inside it
    tensor : diffusion tensor (cm²/s); separable tensors (``fpgal.diffusion.is_separable``) are simulated
        once in τ = D∥(E) t and rescaled, others energy by energy
    source : callable ``source(xyz_kpc (N,3)) -> (N,)`` relative density (or with ``deposit(grid)``), or an
        array of the grid shape; its cell averages (``source_points``³ Gauss points, as the grid solver)
        are sampled cell-wise (multinomial, then uniform inside the cell)
    spectrum : callable ``spectrum(E_GeV) -> Q`` in GeV⁻¹ cm⁻³ s⁻¹ per unit relative source density
    n_particles : number of pseudo-particles (split into chunks, spread over MPI ranks)
    seed : int / SeedSequence — the result for a seed does not depend on the number of ranks
    boundary : escape boundary (``fpgal.Box``, ``fpgal.Cylinder``); default ``Box()`` = the grid faces
    mode : "ito" (with ∇·D) or "crpropa" (CRPropa DiffusionSDE, no ∇·D)
    dt_s : time step [s, > 0] at ``E_ref_GeV`` (default 1 TeV, as the config's ``sde.dt_s``); for separable tensors
        only dτ = D∥(E_ref) dt matters. Default (and with ``step_kpc``): rms step √(2 dτ) = ``step_kpc``,
        itself defaulting to the field's geometry: min(0.15 L, 0.1 escape scale, half the smallest cell)
        with L the tensor's gradient length (curvature radius of b, gradient length of |D|;
        :func:`fpgal.sde.stepsize.default_step`, recorded in ``meta['step_choice_*']``)
    losses : optional catastrophic losses (``fpgal.transport.losses.PPLosses`` / ``CatastrophicRate``, a list of
        them, or a callable ``(xyz_kpc, E_GeV) -> 1/τ_loss`` in 1/s): particle weights exp(−∫dt/τ_loss)
    estimator : "residence" (time in cells, run until all are absorbed or ``max_steps``) or "snapshots"
        (burst snapshots at ``snapshot_times_s``, times at ``E_ref_GeV``, rounded to whole steps)
    lookup_spacing_kpc : tabulate the tensor on nodes this far apart first (:func:`lookup_table`: S and ∇·S
        for Itô, the signed frame b, d∥, d⊥ for CRPropa mode); the compiled kernels read such tables
    kernel : "auto" (default: the compiled numba kernel of :mod:`fpgal.sde.kernels` where it applies — a
        lookup table, Box/Cylinder, residence estimator, no losses — else the numpy engine), "numba" (error
        where it does not apply) or "numpy" (the reference engine, :mod:`fpgal.sde.engine`)
    bridge : Brownian-bridge correction of escape between steps
    comm : an mpi4py communicator, None (serial) or "auto" (COMM_WORLD under an MPI launcher)
    richardson : True (default): also run at twice the time step (independent random numbers, 1.5 × the
        cost) and attach the step bias to the fine run's result: the Richardson estimate n₀ = 2 n(dτ) − n(2dτ)
        of the mean residence time and the Sun's density, the fine run's relative bias and a 95 % bound
        ``step_bias_bound_rel`` in ``meta`` (:mod:`fpgal.sde.richardson`); "extrapolate": return
        2 n(dτ) − n(2dτ) in every cell, error √(4σ_f² + σ_c²); False: the single run at dτ only.

    Returns
    -------
    CRDensity with ``error`` (1σ, from the batch scatter), the same on every MPI rank (the tallies are
    summed on rank 0 and broadcast); under MPI it carries ``comm``, so ``save()`` is collective.
    Factorized (``spatial``, ``spatial_error``, ``energy_factor``) for a separable tensor without
    losses, where the one simulation in τ gives n(E, x) = spectrum(E)/D∥(E) × n_unit(x).
    """
    kwargs = {name: value for name, value in locals().items()      # the run options but the step
              if name in LEVEL_DEFAULTS and name not in ("dt_s", "step_kpc")}
    if richardson not in (True, False, "extrapolate"):
        raise ValueError(f"steady_state: richardson={richardson!r}; expected True, False or 'extrapolate'")
    if not richardson:
        return _steady_state_level(grid, tensor, source, spectrum, n_particles, seed, dt_s=dt_s, step_kpc=step_kpc,
                                   **kwargs)
    return _richardson_pair(grid, tensor, source, spectrum, n_particles, seed, dt_s, step_kpc, kwargs,
                            extrapolate=richardson == "extrapolate")


#: keyword options of one run (:func:`_steady_state_level`) and their defaults, as in :func:`steady_state`
LEVEL_DEFAULTS = dict(boundary=None, mode="ito", dt_s=None, losses=None, step_kpc=None, E_ref_GeV=1000.0,
                      estimator="residence", snapshot_times_s=None, max_steps=1_000_000, chunk_size=1 << 16,
                      min_batches=64, bridge=True, lookup_spacing_kpc=None, fd_step_kpc=FD_STEP_KPC,
                      trace_step_kpc=TRACE_STEP_KPC, source_points=2, comm="auto", kernel="auto")


@dataclass
class _Run:
    """One SDE run, checked and prepared (:func:`_prepare_run`): inputs, tensor or lookup table, time
    lattice, kernel. ``used`` is the tensor the particles read (the lookup table if one was asked for)."""
    grid: Grid
    tensor: object
    used: object
    ref: SDECoefficients
    boundary: object
    comm: object
    q_cells: np.ndarray
    Q_all: np.ndarray
    f_all: np.ndarray | None
    loss_rate: object
    dtau: float
    n_steps: int
    step_weights: dict | None
    choice: object
    kernel: str
    o: dict             # the keyword options of steady_state (checked)

    @property
    def separable(self) -> bool:
        return self.f_all is not None

    @property
    def factorized(self) -> bool:
        return self.separable and self.loss_rate is None


def _checked_options(grid: Grid, tensor, spectrum, n_particles, seed, o: dict) -> tuple[int, dict]:
    """Type and range checks of the arguments (ValueError/TypeError naming the bad value)."""
    owner = "steady_state"
    if not isinstance(grid, Grid):
        raise TypeError(f"steady_state: grid={grid!r} is not an fpgal.Grid")
    if o["estimator"] not in ESTIMATORS:
        raise ValueError(f"steady_state: estimator={o['estimator']!r}; expected one of {ESTIMATORS}")
    n_particles = positive_int(n_particles, "n_particles", owner)
    check_seed(seed, owner)
    if not callable(spectrum):
        raise TypeError(f"steady_state: spectrum={spectrum!r} is not callable (E_GeV -> GeV^-1 cm^-3 s^-1)")
    if not callable(tensor):
        raise TypeError(f"steady_state: tensor={tensor!r} is not callable (xyz_kpc, E_GeV) -> D (N,3,3) cm²/s")
    o = dict(o)
    o["dt_s"] = positive_number(o["dt_s"], "dt_s", "s", owner, optional=True)
    o["step_kpc"] = positive_number(o["step_kpc"], "step_kpc", "kpc", owner, optional=True)
    o["E_ref_GeV"] = positive_number(o["E_ref_GeV"], "E_ref_GeV", "GeV", owner)
    for name in ("max_steps", "chunk_size", "min_batches", "source_points"):
        o[name] = positive_int(o[name], name, owner)
    if o["kernel"] not in KERNELS:
        raise ValueError(f"steady_state: kernel={o['kernel']!r}; expected one of {KERNELS}")
    o["comm"] = default_comm() if o["comm"] == "auto" else o["comm"]
    boundary = Box() if o["boundary"] is None else o["boundary"]
    if not callable(getattr(boundary, "inside", None)):
        raise TypeError(f"boundary={boundary!r}: expected fpgal.Box / fpgal.Cylinder or an object with inside(xyz)")
    boundary = boundary.bind(grid) if hasattr(boundary, "bind") else boundary
    if hasattr(boundary, "check_grid"):
        boundary.check_grid(grid)
    o["boundary"] = boundary
    return n_particles, o


def lookup_table(tensor, mode: str, grid: Grid, spacing_kpc: float):
    """The lookup table the particles read instead of ``tensor``, on the grid's box with ``spacing_kpc``
    between nodes: for field-aligned tensors (a ``frame`` method) the frame b, d∥, d⊥ — with ∇·S for Itô
    (:class:`~fpgal.sde.table.TabulatedFrameDivergence`), signed for CRPropa mode — so that the
    anisotropy stays exact between nodes; for other tensors S and ∇·S (:func:`~fpgal.sde.table.tabulate`)."""
    if not is_separable(tensor):
        raise ValueError(f"lookup_spacing_kpc needs a separable tensor (energy_factor and spatial); got {tensor!r}")
    has_frame = callable(getattr(tensor, "frame", None))
    if mode == "ito":
        if has_frame:        # b̂ interpolated, S built from it: the anisotropy stays exact between nodes
            return tabulate_frame(tensor, grid.lower_kpc, grid.upper_kpc, spacing_kpc, divergence=True)
        return tabulate(tensor, grid.lower_kpc, grid.upper_kpc, spacing_kpc)
    if not has_frame:
        raise TypeError(f"mode='crpropa' with lookup_spacing_kpc needs a field-aligned tensor with frame(); got {tensor!r}")
    return tabulate_frame(tensor, grid.lower_kpc, grid.upper_kpc, spacing_kpc)


def _time_step(ref: SDECoefficients, used, grid: Grid, o: dict):
    """dτ [kpc²] from ``dt_s`` (at E_ref), ``step_kpc`` (rms step √(2dτ)) or the field's geometry
    (:func:`~fpgal.sde.stepsize.default_step`); returns (dτ, the step choice or None)."""
    if o["dt_s"]:
        return ref.tau_kpc2(o["dt_s"]), None
    step_kpc, choice = o["step_kpc"], None
    if not step_kpc:
        table_h = o["lookup_spacing_kpc"] or (float(np.min(used.spacing_kpc))
                                              if isinstance(used, (TabulatedTensor, TabulatedFrame)) else None)
        choice = collective(lambda: default_step(ref.S, grid, o["boundary"], table_h), o["comm"],
                            "the SDE step choice")
        step_kpc = choice.step_kpc
    dtau = 0.5 * float(step_kpc) ** 2
    if not (math.isfinite(dtau) and dtau > 0):
        raise ValueError(f"steady_state: dt_s={o['dt_s']!r}, step_kpc={step_kpc!r} give no positive time step")
    return dtau, choice


def _time_lattice(ref: SDECoefficients, dtau: float, o: dict) -> tuple[dict | None, int]:
    """(step weights, number of steps): every step for the residence estimator; the snapshot steps
    with their quadrature widths (in units of dτ) for ``estimator="snapshots"``."""
    if o["estimator"] != "snapshots":
        return None, int(o["max_steps"])
    times = o["snapshot_times_s"]
    if times is None or len(np.atleast_1d(times)) < 2:
        raise ValueError("estimator='snapshots' needs snapshot_times_s with at least two increasing times [s]")
    t_snap = np.asarray(times, dtype=float)
    if np.any(np.diff(t_snap) <= 0) or t_snap[0] < 0:
        raise ValueError(f"snapshot_times_s={t_snap.tolist()}: expected increasing non-negative times")
    k_snap = np.rint(ref.tau_kpc2(1.0) * t_snap / dtau).astype(np.int64)
    if np.any(np.diff(k_snap) <= 0):
        raise ValueError("snapshot times closer than one time step; use a smaller dt_s or fewer snapshots")
    widths = snapshot_widths(k_snap * dtau) / dtau
    return dict(zip(k_snap.tolist(), widths.tolist())), int(k_snap[-1]) + 1


def _prepare_run(grid: Grid, tensor, source, spectrum, o: dict) -> _Run:
    """Inputs checked on every rank (an error on one rank is raised on all: no hang), the lookup table,
    the time step and lattice, and the kernel."""
    comm, separable = o["comm"], is_separable(tensor)
    q_cells, Q_all, f_all = collective(lambda: _checked_inputs(grid, tensor, source, spectrum, o["boundary"],
                                                               o["source_points"], separable, o["E_ref_GeV"]),
                                       comm, "the SDE input check")

    def prepare():
        used = lookup_table(tensor, o["mode"], grid, o["lookup_spacing_kpc"]) if o["lookup_spacing_kpc"] else tensor
        return used, _coefficients(used, o["E_ref_GeV"], o["fd_step_kpc"], grid, q_cells)
    used, ref = collective(prepare, comm, "the SDE set-up")
    dtau, choice = _time_step(ref, used, grid, o)
    check_mode(o["mode"], ref)
    step_weights, n_steps = _time_lattice(ref, dtau, o)
    loss_rate = _loss_rate_function(o["losses"])
    kernel = choose_kernel(o["kernel"], used, o["mode"], o["boundary"], o["estimator"], loss_rate)
    return _Run(grid, tensor, used, ref, o["boundary"], comm, q_cells, Q_all, f_all if separable else None,
                loss_rate, dtau, n_steps, step_weights, choice, kernel, o)


def _loss_decay(run: _Run, scale_E: np.ndarray, E_out: np.ndarray):
    """(rates(x) → (N, n_E) decay per unit τ [kpc⁻²], dτ) for the particle weights, or None without losses:
    rate [1/s] × dt/dτ = rate × kpc_cm² / D∥(E)."""
    if run.loss_rate is None:
        return None
    conv = units.kpc_cm ** 2 / scale_E
    return (lambda x: np.stack([np.asarray(run.loss_rate(x, E), dtype=float) * c for E, c in zip(E_out, conv)],
                               axis=1), run.dtau)


def _chunk(run: _Run, coeffs: SDECoefficients, x0: np.ndarray, rng, n_sub: int, n_hist: int, loss):
    """Follow one chunk of particles; returns (its tally, particles not absorbed, particle steps)."""
    o = run.o
    tally = _Tally(run.grid, len(x0), n_sub, n_hist, run.step_weights, loss)
    if run.kernel == "numba":
        hist, info = run_residence_chunk(x0, coeffs.tensor, o["mode"], run.dtau, run.n_steps, run.boundary,
                                         run.grid, n_sub, rng, o["bridge"], o["trace_step_kpc"])
        tally.hist[0] = hist
        tally.steps = info["longest"]
        return tally, info["not_absorbed"], info["steps"]
    x_left, _ = simulate(x0, coeffs, itertools.repeat(run.dtau, run.n_steps), rng, run.boundary, o["mode"], tally,
                         bridge=o["bridge"], trace_step_kpc=o["trace_step_kpc"])
    left = len(x_left) if o["estimator"] == "residence" else 0
    tally.flush()
    steps = int(tally.hist.sum()) if n_hist == 1 and run.step_weights is None else 0
    return tally, left, steps


def _simulate_energy(run: _Run, coeffs: SDECoefficients, E_out: np.ndarray, scale_E: np.ndarray,
                     n_particles: int, run_seed, stats: dict):
    """All chunks of one run (one energy, or all energies of a separable tensor), spread over the ranks
    and summed: (T1, T2, TN) cell moments, TT sub-batch total moments, chunk sizes, sub-batches."""
    n_hist = len(E_out) if run.loss_rate is not None else 1
    loss = _loss_decay(run, scale_E, E_out)
    T1 = np.zeros((n_hist, run.grid.n_cells))
    T2, TN = np.zeros_like(T1), np.zeros_like(T1)
    TT = np.zeros((3, n_hist))
    sizes, n_sub = batch_plan(n_particles, run.o["chunk_size"], run.o["min_batches"], run.grid.n_cells, n_hist)
    seeds = chunk_seeds(run_seed, len(sizes))
    counts = np.zeros(3, dtype=np.int64)        # not absorbed, particle steps, longest
    cpu0 = time.process_time()

    def run_my_chunks():
        for c in my_chunks(len(sizes), run.comm):
            rng = np.random.default_rng(seeds[c])
            x0 = sample_positions(run.grid, run.q_cells, int(sizes[c]), rng)
            tally, left, steps = _chunk(run, coeffs, x0, rng, n_sub, n_hist, loss)
            for total, part in zip((T1, T2, TN), tally.moments()):
                total += part
            TT[...] += tally.total_moments()
            counts[:] += (left, steps, 0)
            counts[2] = max(counts[2], tally.steps)
    # a failure on one rank (e.g. the tensor raising at some particle's position) ends every rank
    collective(run_my_chunks, run.comm, "the SDE simulation")
    T1, T2, TN, TT = (allreduce_sum(a, run.comm) for a in (T1, T2, TN, TT))
    counts = allreduce_sum(counts, run.comm)
    cpu = float(allreduce_sum(np.array([time.process_time() - cpu0]), run.comm)[0])
    stats.update(run_not_absorbed=int(counts[0]), run_particle_steps=int(counts[1]),
                 simulation_cpu_s=stats.get("simulation_cpu_s", 0.0) + cpu)
    if counts[0] > 0 and rank_size(run.comm)[0] == 0:
        log.warning("SDE: %d of %d particles (%.2g%%) were not absorbed after %d steps; their later residence "
                    "is missing (density biased low) — raise max_steps", counts[0], n_particles,
                    100.0 * counts[0] / n_particles, run.n_steps)
    return (T1, T2, TN), TT, sizes, n_sub


def _mean_residence(run: _Run, TT: np.ndarray, n_particles: int, n_sq: float, B: int, stats: dict) -> None:
    """Mean residence time at E_ref and its batch error [Myr] into ``stats``."""
    tau_mean = TT[0, 0] * run.dtau / n_particles
    tau_err = math.sqrt(_batch_variance(TT[0, 0], TT[1, 0], TT[2, 0], n_particles, n_sq, B)) * run.dtau / n_particles
    to_Myr = units.kpc_cm ** 2 / run.ref.scale_cm2_s / units.Myr_s
    stats["mean_residence_Myr"], stats["mean_residence_Myr_err"] = tau_mean * to_Myr, tau_err * to_Myr


def _steady_state_level(grid: Grid, tensor, source, spectrum, n_particles: int, seed=0, **options) -> CRDensity:
    """One SDE run at one time step (see :func:`steady_state`; no Richardson pair)."""
    t_wall = time.perf_counter()
    unknown = sorted(set(options) - set(LEVEL_DEFAULTS))
    if unknown:
        raise TypeError(f"steady_state: unexpected keyword(s) {unknown}; expected some of {sorted(LEVEL_DEFAULTS)}")
    n_particles, o = _checked_options(grid, tensor, spectrum, n_particles, seed, {**LEVEL_DEFAULTS, **options})
    run = _prepare_run(grid, tensor, source, spectrum, o)
    energies = grid.E_GeV
    runs = [(None, energies)] if run.separable else [(E, np.array([E])) for E in energies]
    run_seeds = [_seed_sequence(seed)] if run.separable else _seed_sequence(seed).spawn(len(energies))
    density = None if run.factorized else np.zeros((grid.n_E,) + grid.shape)
    error = None if run.factorized else np.zeros_like(density)
    q_rel_cm3 = float(run.q_cells.sum()) * grid.cell_volume_cm3          # ∫ source_rel d³x [cm³]
    # n = spectrum/D∥ × (q_rel/N) × Σ τ [cm²] / V [cm³]
    to_density = q_rel_cm3 / n_particles * run.dtau * units.kpc_cm ** 2 / grid.cell_volume_cm3
    stats, factors, B = {}, None, 0
    for (E_run, E_out), run_seed in zip(runs, run_seeds):
        coeffs = run.ref if E_run is None else collective(
            lambda E_run=E_run: _coefficients(run.used, E_run, o["fd_step_kpc"], grid, run.q_cells), run.comm,
            "the SDE set-up")
        iE_out = np.searchsorted(energies, E_out)
        scale_E = run.f_all[iE_out] if run.separable else np.array([coeffs.scale_cm2_s])
        (T1, T2, TN), TT, sizes, n_sub = _simulate_energy(run, coeffs, E_out, scale_E, n_particles, run_seed, stats)
        B = len(sizes) * n_sub
        n_sq = float(np.sum(sizes.astype(float) ** 2)) if n_sub == 1 else _sub_sq(sizes, n_sub)
        sigma = np.sqrt(_batch_variance(T1, T2, TN, n_particles, n_sq, B))
        if E_run is None and T1.shape[0] == 1:
            _mean_residence(run, TT, n_particles, n_sq, B, stats)
        factor = run.Q_all[iE_out] / scale_E * to_density
        if run.factorized:   # one tally for all energies: n(E, x) = factor(E) · T1(x), error |factor(E)| · σ(x)
            factors = (factor, T1[0].reshape(grid.shape), sigma[0].reshape(grid.shape))
        else:
            per_E = T1.shape[0] == len(E_out)
            hist, sig = (T1, sigma) if per_E else (np.repeat(T1, len(E_out), 0), np.repeat(sigma, len(E_out), 0))
            density[iE_out] = (factor[:, None] * hist).reshape((len(E_out),) + grid.shape)
            error[iE_out] = (np.abs(factor)[:, None] * sig).reshape((len(E_out),) + grid.shape)
    meta = _run_meta(run, n_particles, seed, B, stats, time.perf_counter() - t_wall)
    keep = run.comm if rank_size(run.comm)[1] > 1 else None
    if keep is not None:
        meta = keep.bcast(meta, root=0)      # rank 0's wall time on every rank: identical results
    if run.factorized:
        factor, tally, sigma = factors
        return CRDensity.factorized(grid, tally, factor, sigma, meta, comm=keep, normalize=True)
    return CRDensity(grid, density, error, meta, comm=keep)


def _run_meta(run: _Run, n_particles: int, seed, n_batches: int, stats: dict, wall_s: float) -> dict:
    """Provenance of one SDE run (the CRDensity's ``meta``)."""
    o = run.o
    meta = dict(solver="sde", mode=o["mode"], estimator=o["estimator"], n_particles=n_particles, seed=str(seed),
                dtau_kpc2=run.dtau, rms_step_kpc=math.sqrt(2.0 * run.dtau), E_ref_GeV=float(o["E_ref_GeV"]),
                dt_s_at_E_ref=run.dtau * units.kpc_cm ** 2 / run.ref.scale_cm2_s, bridge=bool(o["bridge"]),
                n_batches=int(n_batches), chunk_size=int(o["chunk_size"]), tensor=repr(run.tensor),
                boundary=repr(run.boundary), lookup_spacing_kpc=float(o["lookup_spacing_kpc"] or 0.0),
                fd_step_kpc=float(o["fd_step_kpc"]), losses=repr(o["losses"]), wall_time_s=wall_s,
                models_json=models_json(tensor=run.tensor, boundary=run.boundary),
                mpi_ranks=rank_size(run.comm)[1], kernel=run.kernel,
                fraction_not_absorbed=stats.get("run_not_absorbed", 0) / n_particles,
                particle_steps=stats.get("run_particle_steps", 0), richardson_extrapolated=False,
                simulation_cpu_s=stats.get("simulation_cpu_s", 0.0),
                energy_scaling=("separable tensor: one simulation in tau = D_par(E) t; "
                                "n(E) = spectrum(E)/D_par(E) * n_unit" if run.separable else
                                "non-separable tensor: one simulation per energy"))
    if "mean_residence_Myr" in stats and o["estimator"] == "residence":
        meta.update(mean_residence_Myr=stats["mean_residence_Myr"], mean_residence_Myr_err=stats["mean_residence_Myr_err"])
    if run.choice is not None:
        meta.update(run.choice.meta())
    if o["mode"] == "crpropa":
        meta["trace_step_kpc"] = float(o["trace_step_kpc"])
    if o["estimator"] == "snapshots":
        meta["snapshot_times_s"] = np.asarray(o["snapshot_times_s"], dtype=float).tolist()
    return meta


#: spawn-key tag of the coarse run of a Richardson pair (its seed differs from the fine run's)
COARSE_SEED_TAG = 0x5EED2


def _seed_sequence(seed) -> np.random.SeedSequence:
    """A fresh SeedSequence for ``seed`` (an int, a sequence of ints or a SeedSequence, copied: spawning
    from it does not change the caller's)."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.SeedSequence(seed)


def coarse_seed(seed) -> np.random.SeedSequence:
    """The coarse run's seed of a Richardson pair: ``seed``'s entropy with the spawn key extended by
    ``COARSE_SEED_TAG`` (independent of the fine run's stream, reproducible)."""
    ss = _seed_sequence(seed)
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (COARSE_SEED_TAG,),
                                  pool_size=ss.pool_size)


def _richardson_pair(grid: Grid, tensor, source, spectrum, n_particles, seed, dt_s, step_kpc,
                     kwargs: dict, extrapolate: bool = False) -> CRDensity:
    """The fine run (dτ) and the coarse run (2dτ, seed :func:`coarse_seed`) combined by
    :func:`fpgal.sde.richardson.richardson`. A lookup table is built once and used by both runs."""
    check_seed(seed, "steady_state")
    spacing = kwargs.get("lookup_spacing_kpc")
    kw = dict(kwargs)
    used = tensor
    if spacing and is_separable(tensor) and isinstance(grid, Grid):
        comm = default_comm() if kw.get("comm") == "auto" else kw.get("comm")
        spacing = positive_number(spacing, "lookup_spacing_kpc", "kpc", "steady_state")
        used = collective(lambda: lookup_table(tensor, kw.get("mode", "ito"), grid, spacing), comm, "the SDE set-up")
        kw["lookup_spacing_kpc"] = None
    fine = _steady_state_level(grid, used, source, spectrum, n_particles, seed, dt_s=dt_s, step_kpc=step_kpc, **kw)
    coarse_step = math.sqrt(2.0 * 2.0 * fine.meta["dtau_kpc2"])        # rms step √(2 · 2dτ)
    coarse = _steady_state_level(grid, used, source, spectrum, n_particles, coarse_seed(seed), dt_s=None,
                                 step_kpc=coarse_step, **kw)
    coarse.meta["dtau_kpc2"] = 2.0 * fine.meta["dtau_kpc2"]            # exactly (not via the rounded step)
    out = richardson_combine(fine, coarse, extrapolate)
    if used is not tensor:
        out.meta.update(tensor=repr(tensor), lookup_spacing_kpc=float(spacing))
    return out


def _checked_inputs(grid: Grid, tensor, source, spectrum, boundary, source_points: int, separable: bool,
                    E_ref_GeV: float):
    """The source's cell weights, the spectrum and (separable) energy factor at the grid energies, and
    the tensor checked at up to 1000 source cells (finite, symmetric, positive definite:
    :func:`fpgal.diffusion.check_tensor_values`). Raises ValueError naming the input and the bad value."""
    q_cells = source_weights(grid, source, boundary, source_points)
    Q = spectrum_values(spectrum, grid.E_GeV)
    f = energy_factors(tensor, grid.E_GeV) if separable else None
    pts = _source_sample_points(grid, q_cells)
    if separable:
        check_tensor_values(tensor.spatial(pts), pts, f"tensor {tensor!r}: spatial()", units_text="(dimensionless)")
    else:
        for E in np.unique(np.concatenate([grid.E_GeV, [E_ref_GeV]])):
            check_tensor_values(tensor(pts, float(E)), pts, f"tensor {tensor!r} at E_GeV={E:g}")
    return q_cells, Q, f


def _source_sample_points(grid: Grid, q_cells: np.ndarray, n_max: int = 1000) -> np.ndarray:
    """Centres of up to ``n_max`` cells with source, spread evenly over them (kpc, (n, 3))."""
    flat = np.flatnonzero(q_cells.reshape(-1) > 0)
    pick = flat[np.linspace(0, len(flat) - 1, min(len(flat), n_max)).astype(int)]
    return grid.cell_centers_kpc().reshape(-1, 3)[pick]


def _batch_variance(T1, T2, TN, n_particles: int, n_sq: float, B: int):
    """Ratio-estimator variance of the tally sum T1 from the batch moments (module docstring):
    B/(B−1) Σ_b (H_b − N_b m)², m = T1/N, expanded as T2 − 2 m TN + m² Σ N_b²."""
    m = T1 / n_particles
    return B / max(B - 1, 1) * np.clip(T2 - 2.0 * m * TN + m ** 2 * n_sq, 0.0, None)


def _sub_sq(sizes: np.ndarray, n_sub: int) -> float:
    """Σ N_s² over all sub-batches of all chunks (same split as :class:`_Tally`)."""
    total = 0.0
    for n in sizes:
        sub = np.bincount(np.arange(n, dtype=np.int64) * n_sub // n, minlength=n_sub)
        total += float(np.sum(sub.astype(float) ** 2))
    return total


def _coefficients(tensor, E_GeV: float, fd_step_kpc: float, grid: Grid, q_cells: np.ndarray) -> SDECoefficients:
    """Coefficients at ``E_GeV``; a non-separable tensor is scaled by its mean trace/3 over the source cells."""
    if is_separable(tensor):
        return SDECoefficients(tensor, E_GeV, fd_step_kpc)
    from ..model.diffusion import evaluate_tensor
    pts = _source_sample_points(grid, q_cells)
    D = evaluate_tensor(tensor, pts, E_GeV)
    scale = float(np.mean(np.trace(D, axis1=1, axis2=2)) / 3.0)
    return SDECoefficients(tensor, E_GeV, fd_step_kpc, scale_cm2_s=scale)
