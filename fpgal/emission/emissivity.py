"""Emissivity per hydrogen nucleus of the gas: one matrix product over energies, vectorized over cells.

For a CR species with differential density n(T) [GeV⁻¹ cm⁻³] at kinetic energy T and speed βc,

    q(E_s) = ∫ dT  c β(T) n(T) [dσ_{·H}/dE_s(T, E_s) + f_He dσ_{·He}/dE_s(T, E_s)]     [GeV⁻¹ s⁻¹]

per hydrogen nucleus, with the gas helium counted as a number fraction f_He = n_He/n_H (default
0.1, i.e. a He mass fraction ≈ 0.28 of H + He). Protons use the p–p and p–He channels; an optional
CR helium density adds He–p and He–He. The volume emissivity is n_H q and the intensity
I = (1/4π) ∫ n_H q ds (see :mod:`fpgal.emission.maps`).

Quadrature: the CR grid is coarse (typ. 4 energies per decade), so each interval [T_i, T_{i+1}] is
split into ``n_sub`` log-equal parts, n(T) is interpolated as a power law (log-log; linearly where
a node is ≤ 0), and the trapezoid rule in ln T is applied on the fine nodes:

    q_s = Σ_F K_sF n(T_F),     K_sF = dσ/dE_s(T_F, E_s) · c β(T_F) · w_F,   w_F = T_F Δ(ln T)_F

(w_F the trapezoid weights in ln T). The integral covers the CR grid's energy range only — no
extrapolation beyond it. K is precomputed once per (energies, model, particle) and cached.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core import units
from ..core.log import get_logger
from ..model.spectra import beta
from ..result import CRDensity
from .cross_sections import MASS_GeV, dsigma_dE

log = get_logger(__name__)

EMISSIVITY_UNITS = "GeV^-1 s^-1 (per H nucleus)"
_TINY = 1e-300


def check_energies(E_gamma_GeV) -> np.ndarray:
    """Secondary energies as a 1-D float array; ValueError naming the first one that is not a finite
    positive number of GeV."""
    try:
        E = np.atleast_1d(np.asarray(E_gamma_GeV, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"E_gamma_GeV={E_gamma_GeV!r}: expected positive energies in GeV") from exc
    if E.ndim != 1 or E.size == 0:
        raise ValueError(f"E_gamma_GeV={E_gamma_GeV!r}: expected a 1-D list of positive energies in GeV")
    bad = ~(np.isfinite(E) & (E > 0))
    if bad.any():
        raise ValueError(f"E_gamma_GeV={E_gamma_GeV!r}: energy {float(E[bad][0])!r} (index {int(np.flatnonzero(bad)[0])}) "
                         "is not a finite positive number of GeV")
    return E


def fine_energy_grid(T_GeV: np.ndarray, n_sub: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each interval of ``T_GeV`` into ``n_sub`` log-equal parts.

    Returns ``(T_fine, i_left, t)``: the fine energies, the index of the CR node on the left of
    each, and the fraction t ∈ [0, 1] of ln T between that node and the next.
    """
    T = np.asarray(T_GeV, dtype=float)
    if int(n_sub) != n_sub or n_sub < 1:
        raise ValueError(f"n_sub={n_sub!r}: expected a positive integer")
    if T.size < 2:
        raise ValueError("the CR grid needs at least two energies to integrate over E_p")
    n_sub = int(n_sub)
    frac = np.arange(n_sub) / n_sub
    i_left = np.concatenate([np.repeat(np.arange(T.size - 1), n_sub), [T.size - 2]])
    t = np.concatenate([np.tile(frac, T.size - 1), [1.0]])
    lnT = np.log(T)
    T_fine = np.exp(lnT[i_left] + t * (lnT[i_left + 1] - lnT[i_left]))
    return T_fine, i_left, t


def log_trapezoid_weights(T_GeV: np.ndarray) -> np.ndarray:
    """Weights w with ∫ f dT ≈ Σ w f(T) (trapezoid rule in ln T), GeV."""
    T = np.asarray(T_GeV, dtype=float)
    d = np.diff(np.log(T))
    w = np.zeros_like(T)
    w[:-1] += 0.5 * d
    w[1:] += 0.5 * d
    return w * T


@dataclass(frozen=True)
class ProductionMatrix:
    """``q = M.apply(n)``: emissivity per target from a CR density on the CR energy grid.

    Attributes
    ----------
    E_sec_GeV : (n_s,) secondary energies.
    T_GeV : (n_C,) CR kinetic energies (the CR grid).
    T_fine_GeV, i_left, t : fine quadrature grid and its position in the CR grid.
    K_cm3_s : (n_s, n_F) kernel [cm³ s⁻¹ GeV⁻¹ · GeV], q_s = Σ_F K_sF n(T_F).
    """

    E_sec_GeV: np.ndarray
    T_GeV: np.ndarray
    T_fine_GeV: np.ndarray
    i_left: np.ndarray
    t: np.ndarray
    K_cm3_s: np.ndarray

    def fine_density(self, density: np.ndarray) -> np.ndarray:
        """Log-log interpolation of ``density`` (n_C, N) onto the fine grid → (n_F, N).

        Where one of the two bracketing nodes is ≤ 0 the interpolation is linear instead.
        """
        n = np.asarray(density, dtype=float)
        t = self.t.reshape((-1,) + (1,) * (n.ndim - 1))
        ln = np.log(np.maximum(n, _TINY))
        dln = np.diff(ln, axis=0)
        out = np.exp(ln[self.i_left] + t * dln[np.minimum(self.i_left, dln.shape[0] - 1)])
        nonpos = n <= 0
        if nonpos.any():                       # rare: zeros (e.g. outside a halo) → linear segments
            cols = np.flatnonzero(nonpos.reshape(n.shape[0], -1).any(axis=0))
            m = n.reshape(n.shape[0], -1)[:, cols]
            a, b = m[self.i_left], m[self.i_left + 1]
            tt = self.t[:, None]
            pos = (a > 0) & (b > 0)
            lin = (1.0 - tt) * a + tt * b
            o = out.reshape(out.shape[0], -1)
            o[:, cols] = np.where(pos, o[:, cols], lin)
        return out

    def apply(self, density: np.ndarray, chunk_cells: int = 32768) -> np.ndarray:
        """Emissivity (n_s, ...) [GeV⁻¹ s⁻¹ per target] from a density (n_C, ...) [GeV⁻¹ cm⁻³]."""
        n = np.asarray(density, dtype=float)
        if n.shape[0] != self.T_GeV.size:
            raise ValueError(f"density has {n.shape[0]} energies, the production matrix expects {self.T_GeV.size}")
        flat = n.reshape(n.shape[0], -1)
        out = np.empty((self.K_cm3_s.shape[0], flat.shape[1]))
        for c0 in range(0, flat.shape[1], chunk_cells):
            sl = slice(c0, c0 + chunk_cells)
            out[:, sl] = self.K_cm3_s @ self.fine_density(flat[:, sl])
        return out.reshape((self.K_cm3_s.shape[0],) + n.shape[1:])


_CACHE: dict = {}


def production_matrix(E_sec_GeV, T_GeV, mass_GeV: float = units.m_p_GeV, primary: str = "p",
                      cross_section: str = "aafrag", particle: str = "gamma", helium_fraction: float = 0.1,
                      n_sub: int = 8) -> ProductionMatrix:
    """Kernel for primary ``primary`` ('p' or 'He') on gas with n_He/n_H = ``helium_fraction``.

    K_sF = [dσ_{X-p}/dE_s + f_He dσ_{X-He}/dE_s](T_F, E_s) · 1e-27 cm²/mb · c β(T_F) · w_F.
    """
    if primary not in ("p", "He"):
        raise ValueError(f"primary={primary!r}: expected 'p' or 'He'")
    f_He = float(helium_fraction)
    if not (np.isfinite(f_He) and f_He >= 0):
        raise ValueError(f"helium_fraction={helium_fraction!r}: expected a number >= 0 (n_He / n_H)")
    E_sec = np.atleast_1d(np.asarray(E_sec_GeV, dtype=float))
    T = np.asarray(T_GeV, dtype=float)
    key = (E_sec.tobytes(), T.tobytes(), float(mass_GeV), primary, cross_section, particle, f_He, int(n_sub))
    if key in _CACHE:
        return _CACHE[key]
    T_fine, i_left, t = fine_energy_grid(T, n_sub)
    sigma = dsigma_dE(E_sec, T_fine, cross_section, particle, f"{primary}-p")
    if f_He > 0:
        sigma = sigma + f_He * dsigma_dE(E_sec, T_fine, cross_section, particle, f"{primary}-He")
    K = sigma * units.mb_cm2 * (units.c_cm_s * beta(T_fine, mass_GeV) * log_trapezoid_weights(T_fine))[None, :]
    pm = ProductionMatrix(E_sec, T, T_fine, i_left, t, K)
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = pm
    return pm


def _checked_density(cr: CRDensity, what: str) -> np.ndarray:
    """``cr.density``; ValueError naming the first NaN/inf value (energy and point in kpc). Negative
    values are allowed — reported (logged), not clipped."""
    n = cr.density
    bad = ~np.isfinite(n)
    if bad.any():
        k, i, j, l = (int(v) for v in np.unravel_index(int(np.flatnonzero(bad)[0]), n.shape))
        x = ", ".join(f"{v:.4g}" for v in cr.grid.cell_centers_kpc()[i, j, l])
        raise ValueError(f"{what}: the CR density is {float(n[k, i, j, l])!r} at E_GeV={cr.grid.E_GeV[k]:g}, cell "
                         f"({i}, {j}, {l}) at ({x}) kpc ({int(bad.sum())} NaN/inf values); expected finite "
                         "densities in GeV^-1 cm^-3")
    neg = n < 0
    if neg.any():
        # kept, not clipped: the emission is linear in n, and the small undershoots of the anisotropic scheme
        # compensate overshoots next to them; clipping would bias the maps upwards
        weight = float(np.abs(n[neg]).sum() / np.abs(n).sum())
        log.info("%s: %d negative densities (%.2g %% of cells, %.2g of the total |n|, min %.3g GeV^-1 cm^-3) "
                 "kept as they are", what, int(neg.sum()), 100.0 * neg.mean(), weight, float(n.min()))
    return n


def factorized_parts(pm: ProductionMatrix, cr: CRDensity) -> tuple[np.ndarray, np.ndarray] | None:
    """q = coeffs @ fields for a factorized density n(E, x) = f(E) G(x) with f > 0; None otherwise.

    The fine-grid density of :meth:`ProductionMatrix.fine_density` is exactly f_fine(E) G(x) — log-log
    interpolation of f where G > 0, linear where G ≤ 0 — so q = (K f_log) ⊗ G⁺ + (K f_lin) ⊗ G⁻ with
    G⁺ = max(G, 0), G⁻ = min(G, 0): ``coeffs`` (n_s, 2) [GeV⁻¹ s⁻¹ per unit G], ``fields`` (2, nx, ny, nz).
    """
    if not cr.is_factorized:
        return None
    f, G = np.asarray(cr.energy_factor, dtype=float), np.asarray(cr.spatial, dtype=float)
    if not (np.all(f > 0) and np.all(np.isfinite(f)) and np.all(np.isfinite(G))):
        return None
    q_log = pm.K_cm3_s @ pm.fine_density(f)
    q_lin = pm.K_cm3_s @ ((1.0 - pm.t) * f[pm.i_left] + pm.t * f[pm.i_left + 1])
    return np.stack([q_log, q_lin], axis=1), np.stack([np.maximum(G, 0.0), np.minimum(G, 0.0)])


def apply_to(pm: ProductionMatrix, cr: CRDensity, what: str) -> np.ndarray:
    """``pm.apply(cr.density)`` (GeV⁻¹ s⁻¹ per H nucleus, (n_s, nx, ny, nz)), without expanding a factorized
    density (:func:`factorized_parts`: two matrix-vector products instead of one product per cell)."""
    parts = factorized_parts(pm, cr)
    if parts is None:
        return pm.apply(_checked_density(cr, what))       # names a bad value
    coeffs, fields = parts
    return np.tensordot(coeffs, fields, axes=1)


def emissivity(cr: CRDensity, E_gamma_GeV, cross_section: str = "aafrag", particle: str = "gamma",
               helium_fraction: float = 0.1, cr_helium: CRDensity | None = None, n_sub: int = 8,
               timings: dict | None = None) -> np.ndarray:
    """Emissivity per gas hydrogen nucleus q(E, x) [GeV⁻¹ s⁻¹], shape (nE, nx, ny, nz).

    ``cr`` holds CR protons (kinetic energy per particle on ``cr.grid.E_GeV``); ``cr_helium``, if
    given, CR helium nuclei on the same spatial grid (kinetic energy per nucleus, ``mass_GeV`` of
    ⁴He). The volume emissivity is ``gas(x) * q``.
    """
    E = check_energies(E_gamma_GeV)
    if not isinstance(cr, CRDensity):
        raise TypeError(f"cr={cr!r}: expected an fpgal.CRDensity of CR protons")
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    pm = production_matrix(E, cr.grid.E_GeV, cr.mass_GeV, "p", cross_section, particle, helium_fraction, n_sub)
    timings["production_matrix_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    q = apply_to(pm, cr, "CR protons")
    if cr_helium is not None:
        if not cr_helium.grid.same_space(cr.grid):
            raise ValueError(f"cr_helium grid {cr_helium.grid!r} differs in space from the proton grid {cr.grid!r}")
        if abs(cr_helium.mass_GeV - MASS_GeV["He"]) > 0.05:
            raise ValueError(f"cr_helium.mass_GeV={cr_helium.mass_GeV}: expected the 4He nucleus rest energy "
                             f"{MASS_GeV['He']} GeV (energies are kinetic energy per nucleus)")
        pmHe = production_matrix(E, cr_helium.grid.E_GeV, cr_helium.mass_GeV, "He", cross_section, particle,
                                 helium_fraction, n_sub)
        q = q + apply_to(pmHe, cr_helium, "CR helium")
    timings["emissivity_s"] = time.perf_counter() - t0
    return q
