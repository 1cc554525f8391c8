"""One time step of the particle ensemble: Itô Euler–Maruyama or CRPropa's DiffusionSDE scheme.

``ito``: x' = x + (∇·S) dτ + √(2 dτ) S^{1/2} ξ   (Euler–Maruyama, weak order 1; Kloeden & Platen 1992).

``crpropa``: the algorithm of CRPropa 3 ``DiffusionSDE::process`` (src/module/DiffusionSDE.cpp;
Merten et al. 2017, JCAP 06, 046):

1. parallel: the signed arc length s = √(2 D∥ dt) η₁ is travelled *along the field line*
   dx/ds = B/|B| with the Cash–Karp Runge–Kutta tableau (5th-order weights). CRPropa halves its step
   until the embedded error estimate is below a tolerance; here each particle takes
   ⌈|s|/trace_step⌉ equal substeps (fixed resolution along the line instead of a tolerance);
2. the tangent T = unit(x_RK − x) is the *chord* of that step, and the perpendicular Euler–Maruyama
   step √(2 D⊥ dt)(η₂ N + η₃ B̂) is taken in the plane ⟂ T with a random orientation of (N, B̂);
   for isotropic Gaussian η this equals √(2 D⊥ dt)(ξ − (T·ξ) T) with ξ ~ N(0, I₃);
3. no ∇·D drift term (CRPropa integrates the Stratonovich-like field-line tracing but omits the
   divergence drift). D∥ and D⊥ are those of the tensor's frame at the start point.

Escape between two steps (the path leaves and re-enters within dt) is accounted for by the
Brownian-bridge correction (Mannella 1999, Comput. Phys. Commun. 60, 1; Gobet 2000): for a plane face
at distances d₀, d₁ from the two end points and normal variance σ² = 2 nᵀSn dτ of the step, the path
crossed with probability exp(−2 d₀ d₁ / σ²). This reduces the O(√dt) bias of absorbing boundaries to O(dt).
"""
from __future__ import annotations

import math

import numpy as np

from ..model.boundary import Box, Cylinder
from .coefficients import SDECoefficients, frame_quad

# Cash–Karp tableau (Press et al., Numerical Recipes §16.2), as used by CRPropa's DiffusionSDE
_CK_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (3 / 10, -9 / 10, 6 / 5),
    (-11 / 54, 5 / 2, -70 / 27, 35 / 27),
    (1631 / 55296, 175 / 512, 575 / 13824, 44275 / 110592, 253 / 4096),
)
_CK_B = (37 / 378, 0.0, 250 / 621, 125 / 594, 0.0, 512 / 1771)

#: default longest Runge–Kutta substep along the field line in crpropa mode [kpc]; the 5th-order
#: local error ~ R (h/R)^6 is < 1e-6 kpc for curvature radii R ≥ 0.5 kpc
TRACE_STEP_KPC = 0.05


def ito_step(coeffs: SDECoefficients, x: np.ndarray, dtau_kpc2: float, rng: np.random.Generator):
    """Euler–Maruyama step; returns (x_new, quad) (see :meth:`SDECoefficients.increment`)."""
    xi = rng.standard_normal(x.shape)
    dx, quad = coeffs.increment(x, xi, dtau_kpc2, drift=True)
    return x + dx, quad


def trace_field_line(coeffs: SDECoefficients, x: np.ndarray, s_kpc: np.ndarray,
                     trace_step_kpc: float = TRACE_STEP_KPC) -> np.ndarray:
    """Move each point the signed arc length ``s_kpc`` along dx/ds = b(x) (Cash–Karp, 5th order)."""
    n_sub = np.maximum(np.ceil(np.abs(s_kpc) / trace_step_kpc).astype(np.int64), 1)
    h = s_kpc / n_sub
    out = x.copy()
    for k in range(int(n_sub.max()) if len(x) else 0):
        sel = np.flatnonzero(n_sub > k)
        y0 = out[sel]
        hk = h[sel][:, None]
        ks = []
        acc = np.zeros_like(y0)
        for i in range(6):
            y = y0.copy()
            for j, a in enumerate(_CK_A[i]):
                y += a * hk * ks[j]
            ki = coeffs.frame(y)[0]
            ks.append(ki)
            if _CK_B[i]:
                acc += _CK_B[i] * ki
        out[sel] = y0 + hk * acc
    return out


def crpropa_step(coeffs: SDECoefficients, x: np.ndarray, dtau_kpc2: float, rng: np.random.Generator,
                 trace_step_kpc: float = TRACE_STEP_KPC):
    """CRPropa DiffusionSDE step (field-line tracing + perpendicular Euler step, no drift)."""
    b, dpar, dperp = coeffs.frame(x)
    eta = rng.standard_normal(len(x))
    xi = rng.standard_normal(x.shape)
    s = np.sqrt(2.0 * dpar * dtau_kpc2) * eta
    x_par = trace_field_line(coeffs, x, s, trace_step_kpc)
    chord = x_par - x
    norm = np.linalg.norm(chord, axis=1)
    T = np.where((norm > 0)[:, None], chord / np.where(norm > 0, norm, 1.0)[:, None], b)
    xi_perp = xi - np.einsum("ij,ij->i", T, xi)[:, None] * T
    x_new = x_par + np.sqrt(2.0 * dperp * dtau_kpc2)[:, None] * xi_perp
    return x_new, frame_quad(b, dpar, dperp)


def survives(boundary, x0: np.ndarray, x1: np.ndarray, quad, dtau_kpc2: float, rng: np.random.Generator,
             bridge: bool = True) -> np.ndarray:
    """Mask of particles still inside after the step x0 → x1 (end point inside and, for Box/Cylinder
    with ``bridge``, no Brownian-bridge crossing of a face during the step)."""
    alive = boundary.inside(x1)
    if not bridge or not np.any(alive):
        return alive
    idx = np.flatnonzero(alive)
    a0, a1 = x0[idx], x1[idx]
    log_surv = np.zeros(len(idx))
    planes = []  # (d0, d1, normal)
    if isinstance(boundary, Box):
        for ax in range(3):
            e = np.zeros((len(idx), 3))
            e[:, ax] = 1.0
            planes.append((a0[:, ax] - boundary.lower_kpc[ax], a1[:, ax] - boundary.lower_kpc[ax], e))
            planes.append((boundary.upper_kpc[ax] - a0[:, ax], boundary.upper_kpc[ax] - a1[:, ax], e))
    elif isinstance(boundary, Cylinder):
        r0 = np.hypot(a0[:, 0], a0[:, 1])
        r1 = np.hypot(a1[:, 0], a1[:, 1])
        rhat = np.zeros((len(idx), 3))
        rr = np.where(r0 > 0, r0, 1.0)
        rhat[:, 0] = a0[:, 0] / rr
        rhat[:, 1] = a0[:, 1] / rr
        planes.append((boundary.R_kpc - r0, boundary.R_kpc - r1, rhat))
        ez = np.zeros((len(idx), 3))
        ez[:, 2] = 1.0
        planes.append((a0[:, 2] + boundary.H_kpc, a1[:, 2] + boundary.H_kpc, ez))
        planes.append((boundary.H_kpc - a0[:, 2], boundary.H_kpc - a1[:, 2], ez))
    else:
        return alive
    u = rng.random(len(idx))
    for d0, d1, nvec in planes:
        var = 2.0 * dtau_kpc2 * quad(nvec, idx)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            p = np.exp(-2.0 * np.clip(d0, 0, None) * np.clip(d1, 0, None) / np.maximum(var, 1e-300))
        log_surv += np.log1p(-np.minimum(p, 1.0 - 1e-16))
    alive[idx[u >= np.exp(log_surv)]] = False
    return alive


def rms_parallel_step_kpc(dtau_kpc2: float) -> float:
    """√(2 dτ): rms displacement per step along a unit-coefficient direction [kpc]."""
    return math.sqrt(2.0 * dtau_kpc2)
