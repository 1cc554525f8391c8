"""Richardson analysis of a quantity on successively refined meshes: changes, observed order, error.

A quantity f computed by a scheme of order p on meshes of spacing h, h/r, h/r², … changes by
Δ_k = f_k − f_(k−1) ∝ h_k^p per refinement, so (Richardson 1911, Phil. Trans. R. Soc. A 210, 307;
Roache 1998, *Verification and Validation in Computational Science and Engineering*, §5.4):

    p_obs      = ln(|Δ_coarse| / |Δ_fine|) / ln r                 (three meshes, r = 2: log2)
    f_∞        ≈ f_fine + Δ_fine / (r^p − 1)                       (Richardson extrapolation)
    err(f_fine) = |Δ_fine| / (r^p − 1)

p is clipped to [:data:`ORDER_MIN`, :data:`ORDER_MAX`] = [0.5, 2] (2: the scheme's interior order,
docs/numerics.md; an observed order above it is taken as luck, not as a smaller error). It is
*assumed* to be :data:`ORDER_ASSUMED` = 1 (the staircase of the cylinder's escape surface is first order)
when it cannot be observed: two meshes only, Δ_coarse = 0, or changes of opposite sign (oscillating,
not in the asymptotic range). p = 1 gives err = |Δ_fine|/(r − 1), the larger (conservative) error.
Changes that grow (p_obs < 0) get p = 0.5 and are flagged: the sequence is not converging and the
error is then a lower bound.
Changes below :data:`ROUNDOFF` × max|f| count as zero (a product that does not depend on the mesh,
e.g. the fit's χ² of a factorized solve, gets error 0 instead of an order fitted to round-off).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ORDER_MIN, ORDER_MAX, ORDER_ASSUMED = 0.5, 2.0, 1.0
#: changes below this fraction of the largest |value| are round-off (solver tolerance ≪ this is not
#: resolved either): they count as no change
ROUNDOFF = 1e-9

@dataclass(frozen=True)
class Convergence:
    """One quantity on successively finer meshes: values, changes, observed orders and the error of the last."""

    spacings_kpc: tuple[float, ...]
    values: tuple[float, ...]
    changes: tuple[float, ...]
    orders: tuple[float, ...]
    order_used: float
    order_source: str
    error: float
    extrapolated: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def observed_order(delta_coarse: float, delta_fine: float, ratio: float = 2.0) -> float:
    """p = ln(|Δ_coarse|/|Δ_fine|)/ln r; NaN when either change is zero or not finite."""
    a, b = abs(float(delta_coarse)), abs(float(delta_fine))
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0.0 or b == 0.0:
        return math.nan
    return math.log(a / b) / math.log(ratio)


def refinement_ratio(spacings_kpc: Sequence[float]) -> float:
    """The constant ratio h_k/h_(k+1) > 1 of a sequence of ≥ 2 decreasing spacings (ValueError if not)."""
    h = np.asarray(spacings_kpc, dtype=float)
    if h.ndim != 1 or h.size < 2 or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"mesh spacings {list(spacings_kpc)!r}: expected at least two positive finite spacings in kpc")
    r = h[:-1] / h[1:]
    if np.any(r <= 1.0) or not np.allclose(r, r[0], rtol=1e-6):
        raise ValueError(f"mesh spacings {h.tolist()} kpc: expected coarse to fine with one constant refinement "
                         f"ratio (e.g. 1, 0.5, 0.25), got ratios {np.round(r, 6).tolist()}")
    return float(r[0])


def richardson(values: Sequence[float], spacings_kpc: Sequence[float]) -> Convergence:
    """Changes, observed orders and the Richardson error of the finest value (module docstring).

    ``values[k]`` is the quantity on the mesh of spacing ``spacings_kpc[k]``, coarse to fine. The order
    used is the last observed one clipped to [ORDER_MIN, ORDER_MAX], or ORDER_ASSUMED (the reason is
    in ``order_source``). A non-finite value gives a NaN error.
    """
    r = refinement_ratio(spacings_kpc)
    f = np.asarray(values, dtype=float)
    if f.shape != (len(spacings_kpc),):
        raise ValueError(f"richardson: {f.size} values for {len(spacings_kpc)} mesh spacings; expected one per mesh")
    d = np.diff(f)
    d[np.abs(d) <= ROUNDOFF * np.max(np.abs(f), initial=0.0)] = 0.0
    orders = tuple(observed_order(a, b, r) for a, b in zip(d[:-1], d[1:]))
    if not np.all(np.isfinite(f)):
        p, why = math.nan, "not computed: a value is not finite"
    elif d[-1] == 0.0:
        p, why = ORDER_ASSUMED, "no change on the last refinement"
    elif len(d) < 2:
        p, why = ORDER_ASSUMED, "assumed: two meshes"
    elif d[-2] == 0.0 or np.sign(d[-2]) != np.sign(d[-1]):
        p, why = ORDER_ASSUMED, "assumed: changes of opposite sign"
    else:
        p_obs = orders[-1]
        p = float(np.clip(p_obs, ORDER_MIN, ORDER_MAX))
        why = ("observed" if p == p_obs else f"changes grow (p = {p_obs:.2f}): not converging, a lower bound"
               if p_obs < 0 else f"observed {p_obs:.2f}, clipped")
    factor = r ** p - 1.0 if math.isfinite(p) else math.nan
    error = abs(d[-1]) / factor if d[-1] != 0.0 else 0.0
    extrapolated = f[-1] + d[-1] / factor if d[-1] != 0.0 else f[-1]
    return Convergence(tuple(float(h) for h in spacings_kpc), tuple(f.tolist()), tuple(d.tolist()), orders,
                       p, why, float(error), float(extrapolated))
