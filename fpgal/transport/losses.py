"""Loss and advection terms of the steady transport equation.

    −∇·(D ∇n) + ∇·(u n) + ∂_E(Ė n) + n/τ = Q

* :class:`PPLosses` — catastrophic inelastic pp collisions on the gas:
  ``1/τ(r, E) = c β(E) n_gas(r) σ_inel(E) · nuclear_factor`` with σ_inel of Kafexhiu et al. (2014,
  PRD 90, 123014, eq. 1), :func:`sigma_pp_inel_mb`.
* :class:`IonizationLosses` — continuous ionisation losses ``Ė(r, E) < 0`` (Mannheim &
  Schlickeiser 1994, A&A 286, 983, eq. 4.10). Ė couples the energies: the solver goes from the
  highest energy down with first-order upwinding in E.
* :class:`Advection` — a Galactic wind ``u(z) = u0 sign(z) ẑ`` (first-order upwind in z). The
  adiabatic energy loss of a divergent wind (∇·u = 2 u0 δ(z)) is not included.

Each object declares its ``kind`` ("catastrophic", "continuous" or "advection"); ``solve_steady``
accepts one of them, a list, or None.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..core import units
from ..model.spectra import beta
from ..core.modelbase import Model
from ..core.points import as_points

#: π⁰ rest energy [GeV] (PDG), as in Kafexhiu et al. 2014.
M_PI0_GEV = 0.1349768
#: Threshold kinetic energy of π⁰ production in pp collisions, T_th = 2 m_π + m_π²/(2 m_p) ≈ 0.2797 GeV.
T_TH_GEV = 2 * M_PI0_GEV + M_PI0_GEV ** 2 / (2 * units.m_p_GeV)


def sigma_pp_inel_mb(T_GeV) -> np.ndarray:
    """Inelastic pp cross section [mb] at proton kinetic energy T (lab) [GeV].

    Kafexhiu et al. 2014, eq. 1: ``σ = (30.7 − 0.96 L + 0.18 L²)(1 − x^−1.9)³``, x = T/T_th,
    L = ln x; zero below threshold. Valid from threshold to ~1e6 TeV (fit includes LHC/TOTEM).
    """
    T = np.asarray(T_GeV, dtype=float)
    x = np.maximum(T / T_TH_GEV, 1.0)
    L = np.log(x)
    return np.where(T > T_TH_GEV, (30.7 - 0.96 * L + 0.18 * L * L) * (1.0 - x ** -1.9) ** 3, 0.0)


def _gas(gas: Callable, xyz_kpc: np.ndarray) -> np.ndarray:
    xyz = as_points(xyz_kpc)
    n = np.asarray(gas(xyz), dtype=float).reshape(-1)
    if n.shape != (len(xyz),) or not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError(f"gas model {gas!r} must return finite non-negative densities (N,) in cm^-3")
    return n


class PPLosses(Model):
    """Catastrophic pp losses, rate ``1/τ = c β n_gas σ_inel(E) · nuclear_factor`` [s⁻¹].

    ``gas``: callable (N,3) kpc → hydrogen density [cm⁻³]. ``nuclear_factor`` (default 1) can
    account for helium in the target and projectile (≈ 1.5–1.8 in the literature).
    """

    kind = "catastrophic"

    def __init__(self, gas: Callable, nuclear_factor: float = 1.0, mass_GeV: float = units.m_p_GeV):
        if not callable(gas):
            raise TypeError(f"PPLosses: gas={gas!r} must be callable (xyz_kpc -> n_cm3)")
        if not (math.isfinite(nuclear_factor) and nuclear_factor > 0):
            raise ValueError(f"PPLosses: nuclear_factor={nuclear_factor!r} must be positive")
        self.gas = gas
        self.nuclear_factor = float(nuclear_factor)
        self.mass_GeV = float(mass_GeV)

    def rate_per_s(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        """1/τ at positions (N,) in s⁻¹."""
        sigma_cm2 = float(sigma_pp_inel_mb(E_GeV)) * units.mb_cm2
        return units.c_cm_s * float(beta(E_GeV, self.mass_GeV)) * sigma_cm2 * self.nuclear_factor \
            * _gas(self.gas, xyz_kpc)

    rate_s = rate_per_s          # the earlier name (it returns s⁻¹, not s); kept for user code


def _user_values(model, fn: Callable, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
    """``fn(xyz, E)`` of a user loss model as a finite (N,) array; ``model`` names it in errors."""
    xyz = as_points(xyz_kpc)
    v = np.broadcast_to(np.asarray(fn(xyz, E_GeV), dtype=float), (len(xyz),)).copy()
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{model!r}: returned NaN/inf at E_GeV={E_GeV}")
    return v


class _UserLoss(Model):
    """A loss term from a user callable ``fn(xyz_kpc, E_GeV)``, kept under the attribute named ``_attr``;
    its values are checked finite and of one sign (``_sign`` · value ≥ 0, else ValueError ``_expected``)."""

    _attr, _sign, _expected = "fn", 1.0, ""

    def __init__(self, fn: Callable):
        setattr(self, self._attr, fn)

    def _values(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        v = _user_values(self, getattr(self, self._attr), xyz_kpc, E_GeV)
        if np.any(self._sign * v < 0):
            raise ValueError(f"{self!r}: {self._expected}")
        return v


class CatastrophicRate(_UserLoss):
    """Generic catastrophic loss ``1/τ(r, E) = rate(xyz_kpc, E_GeV)`` [s⁻¹] (tests, custom models)."""

    kind = "catastrophic"
    _attr, _sign, _expected = "rate", 1.0, "loss rate must be finite and non-negative (s^-1)"

    def __init__(self, rate: Callable):
        super().__init__(rate)

    def rate_per_s(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self._values(xyz_kpc, E_GeV)

    rate_s = rate_per_s


class IonizationLosses(Model):
    """Continuous ionisation losses on neutral hydrogen, Ė = −dE/dt [GeV/s] (negative).

    Mannheim & Schlickeiser 1994, eq. 4.10:
    ``−dE/dt = 1.82e−7 eV/s · n_H (1 + 0.0185 ln β Θ(β − β0)) 2β² / (β0³ + 2β³)``, β0 = 0.01.
    """

    kind = "continuous"

    def __init__(self, gas: Callable, mass_GeV: float = units.m_p_GeV):
        if not callable(gas):
            raise TypeError(f"IonizationLosses: gas={gas!r} must be callable (xyz_kpc -> n_cm3)")
        self.gas = gas
        self.mass_GeV = float(mass_GeV)

    def Edot_GeV_per_s(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        b = float(beta(E_GeV, self.mass_GeV))
        b0 = 0.01
        corr = 1.0 + (0.0185 * math.log(b) if b > b0 else 0.0)
        rate_eV_s = 1.82e-7 * corr * 2 * b * b / (b0 ** 3 + 2 * b ** 3)
        return -rate_eV_s * 1e-9 * _gas(self.gas, xyz_kpc)

    Edot_GeV_s = Edot_GeV_per_s  # the earlier name; kept for user code


class ContinuousRate(_UserLoss):
    """Generic continuous loss ``Ė(r, E) = edot(xyz_kpc, E_GeV)`` [GeV/s], must be ≤ 0."""

    kind = "continuous"
    _attr, _sign, _expected = "edot", -1.0, "Ė must be finite and <= 0 (energy losses)"

    def __init__(self, edot: Callable):
        super().__init__(edot)

    def Edot_GeV_per_s(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self._values(xyz_kpc, E_GeV)

    Edot_GeV_s = Edot_GeV_per_s


class Advection(Model):
    """Galactic wind ``u = u0 sign(z) ẑ`` with ``u0_km_s`` ≥ 0 (away from the disc)."""

    kind = "advection"

    def __init__(self, u0_km_s: float):
        if not (math.isfinite(u0_km_s) and u0_km_s >= 0):
            raise ValueError(f"Advection: u0_km_s={u0_km_s!r} must be a finite non-negative speed")
        self.u0_km_s = float(u0_km_s)

    def uz_cm_s(self, z_kpc: np.ndarray) -> np.ndarray:
        return self.u0_km_s * 1e5 * np.sign(np.asarray(z_kpc, dtype=float))


def loss_rate_per_s(term, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
    """1/τ [s⁻¹] of a catastrophic term: its ``rate_per_s`` (or, for models written earlier,
    ``rate_s``)."""
    fn = getattr(term, "rate_per_s", None) or getattr(term, "rate_s")
    return fn(xyz_kpc, E_GeV)


def energy_loss_GeV_per_s(term, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
    """Ė [GeV s⁻¹] (≤ 0) of a continuous term: its ``Edot_GeV_per_s`` (or the older ``Edot_GeV_s``)."""
    fn = getattr(term, "Edot_GeV_per_s", None) or getattr(term, "Edot_GeV_s")
    return fn(xyz_kpc, E_GeV)


_METHODS = {"catastrophic": ("rate_per_s", "rate_s"), "continuous": ("Edot_GeV_per_s", "Edot_GeV_s")}


def normalize_losses(losses) -> tuple[list, list, "Advection | None"]:
    """Split ``losses`` (None, one object or a list) into (catastrophic, continuous, advection)."""
    if losses is None:
        return [], [], None
    items = list(losses) if isinstance(losses, (list, tuple)) else [losses]
    cat, cont, adv = [], [], None
    for item in items:
        kind = getattr(item, "kind", None)
        if kind in _METHODS and not any(callable(getattr(item, m, None)) for m in _METHODS[kind]):
            raise TypeError(f"losses: {item!r} is {kind} but has no method {_METHODS[kind][0]}(xyz_kpc, E_GeV)")
        if kind == "catastrophic":
            cat.append(item)
        elif kind == "continuous":
            cont.append(item)
        elif kind == "advection":
            if adv is not None:
                raise ValueError("losses: at most one Advection term")
            adv = item
        else:
            raise TypeError(f"losses: {item!r} is not a loss term (needs kind = 'catastrophic', 'continuous' "
                            "or 'advection'; see fpgal.transport.losses)")
    return cat, cont, adv
