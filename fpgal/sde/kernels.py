"""Compiled particle kernels (numba): whole trajectories from injection to escape, one particle at a time.

The numpy engine (:mod:`fpgal.sde.engine`) advances all particles together and pays numpy's per-call
overhead ~20 times per step; these kernels run the same algorithms in a compiled loop over particles
and steps, reading the tensor from a lookup table (:mod:`fpgal.sde.table`) and tallying the residence
time straight into the histogram. They implement exactly the numpy engine's equations:

* Itô (``TabulatedTensor``, S and ∇·S trilinear): x' = x + (∇·S) dτ + √(2dτ) L ξ, L Lᵀ = S (3×3 Cholesky);
* CRPropa mode (``TabulatedFrame``, signed b, d∥, d⊥ trilinear): the signed arc s = √(2 d∥ dτ) η along
  dx/ds = b(x) in ⌈|s|/trace_step⌉ Cash–Karp substeps (5th-order weights), then
  √(2 d⊥ dτ)(ξ − (T·ξ)T) perpendicular to the chord T, no ∇·D drift (Merten et al. 2017, JCAP 06, 046);
* escape: end point outside ``Box``/``Cylinder`` or, with the bridge correction, a crossing between the
  two end points with probability exp(−2 d₀ d₁ / (2 nᵀSn dτ)) per face (Mannella 1999; Gobet 2000);
* residence tally: each step adds its weight (½ for the injection step, trapezoid rule) to the cell of
  its start point, in the particle's sub-batch ``i · n_sub // n``.

Random numbers come from the chunk's ``numpy.random.Generator`` (PCG64 seeded by the chunk's
SeedSequence, so results are reproducible per seed and independent of the MPI rank count), drawn per
particle and step — a different order than the numpy engine, so the two agree in distribution, not bit
for bit (tests/sde/test_kernels.py: one step with given ξ agrees to round-off; whole runs agree
within their statistical errors).

Compilation: ~10 s per kernel the first time, cached on disk next to this module afterwards
(``cache=True``).
"""
from __future__ import annotations

import math

import numpy as np

try:
    import numba
    from numba import njit
    HAVE_NUMBA = True
except ImportError:          # pragma: no cover - numba is a declared dependency
    numba = None
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        def wrap(f):
            return f
        return wrap(args[0]) if args and callable(args[0]) else wrap

#: particles per compiled call (Python handles signals between calls)
PARTICLES_PER_CALL = 64

#: boundary kinds passed to the kernels
BOUNDARY_NONE, BOUNDARY_BOX, BOUNDARY_CYLINDER = 0, 1, 2

# Cash–Karp tableau (Press et al., Numerical Recipes §16.2)
_A21 = 1.0 / 5.0
_A31, _A32 = 3.0 / 40.0, 9.0 / 40.0
_A41, _A42, _A43 = 3.0 / 10.0, -9.0 / 10.0, 6.0 / 5.0
_A51, _A52, _A53, _A54 = -11.0 / 54.0, 5.0 / 2.0, -70.0 / 27.0, 35.0 / 27.0
_A61, _A62, _A63, _A64, _A65 = 1631.0 / 55296.0, 175.0 / 512.0, 575.0 / 13824.0, 44275.0 / 110592.0, 253.0 / 4096.0
_B1, _B3, _B4, _B6 = 37.0 / 378.0, 250.0 / 621.0, 125.0 / 594.0, 512.0 / 1771.0


@njit(cache=True, fastmath=False)
def trilinear_point(values, lower, inv_h, x, y, z, out):
    """Trilinear interpolation of node values (nx, ny, nz, m) at one point into ``out`` (m,); points
    outside the lattice take the nearest face's values (as :func:`fpgal.interp.trilinear` for node tables)."""
    nx, ny, nz, m = values.shape
    u = min(max((x - lower[0]) * inv_h[0], 0.0), nx - 1.0)
    v = min(max((y - lower[1]) * inv_h[1], 0.0), ny - 1.0)
    w = min(max((z - lower[2]) * inv_h[2], 0.0), nz - 1.0)
    i = min(int(math.floor(u)), max(nx - 2, 0))
    j = min(int(math.floor(v)), max(ny - 2, 0))
    k = min(int(math.floor(w)), max(nz - 2, 0))
    fu, fv, fw = u - i, v - j, w - k
    gu, gv, gw = 1.0 - fu, 1.0 - fv, 1.0 - fw
    i1, j1, k1 = min(i + 1, nx - 1), min(j + 1, ny - 1), min(k + 1, nz - 1)
    for c in range(m):
        out[c] = (gu * (gv * (gw * values[i, j, k, c] + fw * values[i, j, k1, c])
                        + fv * (gw * values[i, j1, k, c] + fw * values[i, j1, k1, c]))
                  + fu * (gv * (gw * values[i1, j, k, c] + fw * values[i1, j, k1, c])
                          + fv * (gw * values[i1, j1, k, c] + fw * values[i1, j1, k1, c])))


@njit(cache=True)
def cell_of(x, y, z, glo, ghi, ginv_h, gshape):
    """Flat C-order cell index of a point in the tally grid (closed box), −1 outside."""
    if x < glo[0] or x > ghi[0] or y < glo[1] or y > ghi[1] or z < glo[2] or z > ghi[2]:
        return -1
    i = min(max(int(math.floor((x - glo[0]) * ginv_h[0])), 0), gshape[0] - 1)
    j = min(max(int(math.floor((y - glo[1]) * ginv_h[1])), 0), gshape[1] - 1)
    k = min(max(int(math.floor((z - glo[2]) * ginv_h[2])), 0), gshape[2] - 1)
    return (i * gshape[1] + j) * gshape[2] + k


@njit(cache=True)
def inside(kind, bpar, x, y, z):
    """Strictly inside the escape boundary (Box: lower < x < upper; Cylinder: r < R, |z| < H)."""
    if kind == 1:
        return (bpar[0] < x < bpar[3]) and (bpar[1] < y < bpar[4]) and (bpar[2] < z < bpar[5])
    if kind == 2:
        return math.hypot(x, y) < bpar[0] and abs(z) < bpar[1]
    return True


@njit(cache=True)
def _bridge_term(d0, d1, var):
    """log of the probability that a Brownian bridge between distances d0, d1 from a plane (variance
    ``var`` along its normal) does not touch it."""
    p = math.exp(-2.0 * max(d0, 0.0) * max(d1, 0.0) / max(var, 1e-300))
    return math.log1p(-min(p, 1.0 - 1e-16))


@njit(cache=True)
def bridge_log_survival(kind, bpar, x0, x1, S, dtau):
    """Σ over the boundary's faces of log P(no crossing) for the step x0 → x1 with the start point's S
    (6 components xx, xy, xz, yy, yz, zz)."""
    if kind == 1:
        diag = (S[0], S[3], S[5])
        total = 0.0
        for a in range(3):
            var = 2.0 * dtau * diag[a]
            total += _bridge_term(x0[a] - bpar[a], x1[a] - bpar[a], var)
            total += _bridge_term(bpar[3 + a] - x0[a], bpar[3 + a] - x1[a], var)
        return total
    if kind == 2:
        r0 = math.hypot(x0[0], x0[1])
        r1 = math.hypot(x1[0], x1[1])
        rr = r0 if r0 > 0 else 1.0
        nx, ny = x0[0] / rr, x0[1] / rr
        var_r = 2.0 * dtau * (nx * nx * S[0] + 2.0 * nx * ny * S[1] + ny * ny * S[3])
        var_z = 2.0 * dtau * S[5]
        return (_bridge_term(bpar[0] - r0, bpar[0] - r1, var_r)
                + _bridge_term(x0[2] + bpar[1], x1[2] + bpar[1], var_z)
                + _bridge_term(bpar[1] - x0[2], bpar[1] - x1[2], var_z))
    return 0.0


@njit(cache=True)
def ito_increment(table, tlo, tinv_h, x, xi, dtau, out, S):
    """Euler–Maruyama increment (∇·S) dτ + √(2dτ) L ξ at x into ``out``; S (6,) receives the start
    point's tensor. Returns False if S is not positive definite there."""
    v = np.empty(9)
    trilinear_point(table, tlo, tinv_h, x[0], x[1], x[2], v)
    for c in range(6):
        S[c] = v[c]
    l00 = math.sqrt(v[0]) if v[0] > 0 else 0.0
    if l00 <= 0.0:
        return False
    l10 = v[1] / l00
    l20 = v[2] / l00
    a11 = v[3] - l10 * l10
    if a11 <= 0.0:
        return False
    l11 = math.sqrt(a11)
    l21 = (v[4] - l20 * l10) / l11
    a22 = v[5] - l20 * l20 - l21 * l21
    if a22 < 0.0:
        return False
    l22 = math.sqrt(a22)
    sq = math.sqrt(2.0 * dtau)
    out[0] = v[6] * dtau + sq * (l00 * xi[0])
    out[1] = v[7] * dtau + sq * (l10 * xi[0] + l11 * xi[1])
    out[2] = v[8] * dtau + sq * (l20 * xi[0] + l21 * xi[1] + l22 * xi[2])
    return True


@njit(cache=True)
def ito_frame_increment(table, tlo, tinv_h, x, xi, dtau, out, S):
    """Euler–Maruyama increment from a frame table with ∇·S (b, d∥, d⊥, ∇·S): (∇·S) dτ + √(2dτ) S^{1/2} ξ
    with the symmetric root S^{1/2} ξ = √d⊥ ξ + (√d∥ − √d⊥)(b̂·ξ) b̂ of S = d⊥ I + (d∥ − d⊥) b̂ b̂ᵀ, b̂ the
    renormalised interpolated direction; S (6,) receives the start point's tensor. Returns False if
    d∥ or d⊥ ≤ 0 there (not positive definite)."""
    v = np.empty(table.shape[3])
    b = np.empty(3)
    _direction(table, tlo, tinv_h, x[0], x[1], x[2], v, b)
    dpar, dperp = v[3], v[4]
    if not (dperp > 0.0 and dpar > 0.0):
        return False
    _frame_components(b, dpar, dperp, S)
    sp = math.sqrt(dperp)
    c = (math.sqrt(dpar) - sp) * (b[0] * xi[0] + b[1] * xi[1] + b[2] * xi[2])
    sq = math.sqrt(2.0 * dtau)
    for a in range(3):
        out[a] = v[5 + a] * dtau + sq * (sp * xi[a] + c * b[a])
    return True


@njit(cache=True)
def _frame_components(b, dpar, dperp, S):
    """The six components (xx, xy, xz, yy, yz, zz) of S = d⊥ I + (d∥ − d⊥) b bᵀ into ``S``."""
    d = dpar - dperp
    S[0], S[1], S[2] = dperp + d * b[0] * b[0], d * b[0] * b[1], d * b[0] * b[2]
    S[3], S[4], S[5] = dperp + d * b[1] * b[1], d * b[1] * b[2], dperp + d * b[2] * b[2]


@njit(cache=True)
def _direction(frame, flo, finv_h, y0, y1, y2, v, b):
    """Unit b (signed) at a point from the frame table (ẑ where the interpolated b vanishes)."""
    trilinear_point(frame, flo, finv_h, y0, y1, y2, v)
    norm = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if norm > 0.0:
        b[0], b[1], b[2] = v[0] / norm, v[1] / norm, v[2] / norm
    else:
        b[0], b[1], b[2] = 0.0, 0.0, 1.0


@njit(cache=True)
def trace_line(frame, flo, finv_h, x, s, trace_step, out):
    """Move x the signed arc length s along dx/ds = b(x): ⌈|s|/trace_step⌉ equal Cash–Karp substeps."""
    n_sub = max(int(math.ceil(abs(s) / trace_step)), 1)
    h = s / n_sub
    v = np.empty(frame.shape[3])
    k1, k2, k3 = np.empty(3), np.empty(3), np.empty(3)
    k4, k5, k6 = np.empty(3), np.empty(3), np.empty(3)
    y = np.empty(3)
    for a in range(3):
        out[a] = x[a]
    for _ in range(n_sub):
        _direction(frame, flo, finv_h, out[0], out[1], out[2], v, k1)
        for a in range(3):
            y[a] = out[a] + h * _A21 * k1[a]
        _direction(frame, flo, finv_h, y[0], y[1], y[2], v, k2)
        for a in range(3):
            y[a] = out[a] + h * (_A31 * k1[a] + _A32 * k2[a])
        _direction(frame, flo, finv_h, y[0], y[1], y[2], v, k3)
        for a in range(3):
            y[a] = out[a] + h * (_A41 * k1[a] + _A42 * k2[a] + _A43 * k3[a])
        _direction(frame, flo, finv_h, y[0], y[1], y[2], v, k4)
        for a in range(3):
            y[a] = out[a] + h * (_A51 * k1[a] + _A52 * k2[a] + _A53 * k3[a] + _A54 * k4[a])
        _direction(frame, flo, finv_h, y[0], y[1], y[2], v, k5)
        for a in range(3):
            y[a] = out[a] + h * (_A61 * k1[a] + _A62 * k2[a] + _A63 * k3[a] + _A64 * k4[a] + _A65 * k5[a])
        _direction(frame, flo, finv_h, y[0], y[1], y[2], v, k6)
        for a in range(3):
            out[a] += h * (_B1 * k1[a] + _B3 * k3[a] + _B4 * k4[a] + _B6 * k6[a])
    return n_sub


@njit(cache=True)
def crpropa_move(frame, flo, finv_h, x, eta, xi, dtau, trace_step, out, S):
    """CRPropa DiffusionSDE step from x with the normals (η, ξ) into ``out``; S (6,) receives the start
    point's tensor d⊥ I + (d∥ − d⊥) b bᵀ (for the bridge). Returns the number of Cash–Karp substeps."""
    v = np.empty(frame.shape[3])
    b = np.empty(3)
    _direction(frame, flo, finv_h, x[0], x[1], x[2], v, b)
    dpar, dperp = v[3], v[4]
    _frame_components(b, dpar, dperp, S)
    n_sub = trace_line(frame, flo, finv_h, x, math.sqrt(2.0 * dpar * dtau) * eta, trace_step, out)
    c0, c1, c2 = out[0] - x[0], out[1] - x[1], out[2] - x[2]
    norm = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
    if norm > 0.0:
        t0, t1, t2 = c0 / norm, c1 / norm, c2 / norm
    else:
        t0, t1, t2 = b[0], b[1], b[2]
    txi = t0 * xi[0] + t1 * xi[1] + t2 * xi[2]
    sp = math.sqrt(2.0 * dperp * dtau)
    out[0] += sp * (xi[0] - txi * t0)
    out[1] += sp * (xi[1] - txi * t1)
    out[2] += sp * (xi[2] - txi * t2)
    return n_sub


@njit(cache=True)
def residence_chunk(x0, mode, table, tlo, tinv_h, dtau, n_steps, kind, bpar, bridge, trace_step,
                    glo, ghi, ginv_h, gshape, n_sub, hist, rng, first=0, n_total=-1):
    """Inject the particles ``x0`` (N, 3) and follow each until it escapes or ``n_steps`` have passed,
    adding the steps' weights (in units of dτ) to ``hist[sub · n_cells + cell]``.

    ``mode`` 0 = Itô (``table`` = S and ∇·S, 9 values per node), 1 = CRPropa (``table`` = b, d∥, d⊥),
    2 = Itô on a frame table with ∇·S (b, d∥, d⊥, ∇·S: 8 values per node).
    The particles are numbers ``first`` … of a chunk of ``n_total`` (default: this call's), which sets
    their sub-batch. Returns (particle steps, particles not absorbed, most steps of one particle,
    substeps traced, first particle whose tensor was not positive definite or −1).
    """
    n = x0.shape[0]
    n_all = n if n_total < 0 else n_total
    n_cells = gshape[0] * gshape[1] * gshape[2]
    x = np.empty(3)
    x1 = np.empty(3)
    dx = np.empty(3)
    xi = np.empty(3)
    S = np.empty(6)
    steps = 0
    not_absorbed = 0
    longest = 0
    substeps = 0
    for p in range(n):
        offset = ((first + p) * n_sub // n_all) * n_cells
        x[0], x[1], x[2] = x0[p, 0], x0[p, 1], x0[p, 2]
        alive = True
        k = 0
        while k < n_steps:
            cell = cell_of(x[0], x[1], x[2], glo, ghi, ginv_h, gshape)
            if cell >= 0:
                hist[offset + cell] += 0.5 if k == 0 else 1.0
            xi[0], xi[1], xi[2] = rng.standard_normal(), rng.standard_normal(), rng.standard_normal()
            if mode == 0 or mode == 2:
                ok = (ito_increment(table, tlo, tinv_h, x, xi, dtau, dx, S) if mode == 0
                      else ito_frame_increment(table, tlo, tinv_h, x, xi, dtau, dx, S))
                if not ok:
                    return steps, not_absorbed, longest, substeps, p
                for a in range(3):
                    x1[a] = x[a] + dx[a]
            else:
                eta = rng.standard_normal()
                substeps += crpropa_move(table, tlo, tinv_h, x, eta, xi, dtau, trace_step, x1, S)
            k += 1
            if not inside(kind, bpar, x1[0], x1[1], x1[2]):
                alive = False
            elif bridge and kind > 0:
                if rng.random() >= math.exp(bridge_log_survival(kind, bpar, x, x1, S, dtau)):
                    alive = False
            if not alive:
                break
            x[0], x[1], x[2] = x1[0], x1[1], x1[2]
        steps += k
        longest = max(longest, k)
        if alive:
            not_absorbed += 1
    return steps, not_absorbed, longest, substeps, -1


# ------------------------------------------------------------------------------------------ Python side
KERNELS = ("auto", "numba", "numpy")


def boundary_parameters(boundary) -> tuple[int, np.ndarray]:
    """(kind, parameters) of a bound escape boundary for the kernels, or (−1, …) if not supported."""
    from ..model.boundary import Box, Cylinder
    if boundary is None:
        return BOUNDARY_NONE, np.zeros(1)
    if isinstance(boundary, Cylinder):
        return BOUNDARY_CYLINDER, np.array([boundary.R_kpc, boundary.H_kpc])
    if isinstance(boundary, Box) and boundary.lower_kpc is not None and boundary.upper_kpc is not None:
        return BOUNDARY_BOX, np.concatenate([boundary.lower_kpc, boundary.upper_kpc]).astype(float)
    return -1, np.zeros(1)


def unsupported_reason(tensor, mode: str, boundary, estimator: str, losses) -> str | None:
    """Why the compiled kernels cannot run this set-up (None if they can)."""
    from .table import TabulatedFrame, TabulatedFrameDivergence, TabulatedTensor
    if not HAVE_NUMBA:
        return "numba is not installed"
    if estimator != "residence":
        return f"estimator={estimator!r} (the kernels tally residence times)"
    if losses is not None:
        return "losses (particle weights are tallied by the numpy engine only)"
    if boundary_parameters(boundary)[0] < 0:
        return f"boundary {boundary!r} (the kernels know fpgal.Box and fpgal.Cylinder)"
    wanted = (TabulatedTensor, TabulatedFrameDivergence) if mode == "ito" else (TabulatedFrame,)
    if not isinstance(tensor, wanted):
        return (f"tensor {tensor!r} is not a {' or '.join(w.__name__ for w in wanted)} (set lookup_spacing_kpc "
                f"so that the {mode} kernel reads a lookup table)")
    return None


def choose_kernel(kernel: str, tensor, mode: str, boundary, estimator: str, losses) -> str:
    """'numba' or 'numpy' for ``kernel`` in :data:`KERNELS`; 'numba' forced on an unsupported set-up
    raises ValueError with the reason."""
    if kernel not in KERNELS:
        raise ValueError(f"SDE kernel={kernel!r}: expected one of {KERNELS}")
    if kernel == "numpy":
        return "numpy"
    reason = unsupported_reason(tensor, mode, boundary, estimator, losses)
    if reason is None:
        return "numba"
    if kernel == "numba":
        raise ValueError(f"SDE kernel='numba' cannot run this set-up: {reason}; use kernel='numpy' or 'auto'")
    return "numpy"


def run_residence_chunk(x0_kpc: np.ndarray, tensor, mode: str, dtau_kpc2: float, n_steps: int, boundary,
                        grid, n_sub: int, rng: np.random.Generator, bridge: bool = True,
                        trace_step_kpc: float = 0.05) -> tuple[np.ndarray, dict]:
    """Residence histogram (n_sub · n_cells,) in units of dτ of the particles ``x0_kpc`` and run counts
    (``steps``, ``not_absorbed``, ``longest``, ``substeps``) by :func:`residence_chunk`."""
    from .table import TabulatedTensor
    kind, bpar = boundary_parameters(boundary)
    table = tensor.values
    kernel_mode = 1 if mode == "crpropa" else (0 if isinstance(tensor, TabulatedTensor) else 2)
    hist = np.zeros(int(n_sub) * grid.n_cells)
    x0 = np.ascontiguousarray(x0_kpc, dtype=float)
    args = (kernel_mode, table, np.asarray(tensor.lower_kpc, dtype=float), 1.0 / np.asarray(tensor.spacing_kpc, dtype=float),
            float(dtau_kpc2), int(n_steps), int(kind), bpar, bool(bridge), float(trace_step_kpc),
            np.asarray(grid.lower_kpc, dtype=float), np.asarray(grid.upper_kpc, dtype=float),
            1.0 / np.asarray(grid.spacing_kpc, dtype=float), np.asarray(grid.shape, dtype=np.int64), int(n_sub), hist, rng)
    totals = np.zeros(4, dtype=np.int64)
    # calls of ≤ PARTICLES_PER_CALL particles: Python sees Ctrl-C / SIGTERM between them (compiled code
    # cannot be interrupted); the random stream and the tallies continue, so the result is the same
    for lo in range(0, len(x0), PARTICLES_PER_CALL):
        steps, left, longest, substeps, bad = residence_chunk(x0[lo:lo + PARTICLES_PER_CALL], *args, lo, len(x0))
        if bad >= 0:
            raise ValueError(f"SDE: the tabulated tensor {tensor!r} is not positive definite at "
                             f"({', '.join(f'{v:.4g}' for v in x0[lo + bad])}) kpc or along that particle's path")
        totals += (steps, left, 0, substeps)
        totals[2] = max(totals[2], longest)
    return hist, dict(steps=int(totals[0]), not_absorbed=int(totals[1]), longest=int(totals[2]),
                      substeps=int(totals[3]))
