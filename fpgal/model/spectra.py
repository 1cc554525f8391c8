"""Injection (source) spectra of CR protons and the relativistic kinematics they need.

A *spectrum* is a small immutable callable ``spectrum(E_GeV) -> Q_E`` of the kinetic energy per
particle E (GeV) that returns the injection rate **per unit kinetic energy**. The dimension of
``Q_E`` is set by the normalization ``Q0``:

* with ``Q0`` in GeV⁻¹ cm⁻³ s⁻¹ (a source-rate density per unit of the spectral variable, times the
  dimensionless spatial source distribution) the spectrum is the source term q(E, x) of the
  transport equation in GeV⁻¹ cm⁻³ s⁻¹;
* with ``Q0 = 1`` it is a relative spectral shape in GeV⁻¹ (per GeV of kinetic energy).

Spectra defined in momentum are converted with the Jacobian of E ↦ p, so that the *number* of
particles injected in corresponding intervals is the same::

    Q(p) dp = Q_E(E) dE,   Q_E(E) = Q(p(E)) dp/dE,
    p(E) = √(E (E + 2m))  [GeV/c, E and m in GeV],   dp/dE = (E + m)/p = 1/β.

Sign convention (the reference study's, Dörner et al. ICRC2025 eq. 2): spectral indices are the
exponents themselves, ``Q ∝ p^α`` with α < 0 (e.g. α1 ≈ −2.35). A positive index is rejected with
an error that suggests the flipped sign.

Classes: :class:`PowerLaw`, :class:`SmoothBrokenPowerLaw` (eq. 2, optional exponential cutoff and
a second smooth break for the knee). ``spectrum_from_name`` / ``spectrum_from_config`` build one
from a config ``type`` tag; :func:`register_spectrum` adds a user's class to the registry.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..core import units
from ..core.modelbase import Model
from ..core.registry import Registry

# ------------------------------------------------------------------------------------ kinematics


def momentum_GeV(E_GeV, mass_GeV: float = units.m_p_GeV):
    """Momentum p c [GeV] of a particle of kinetic energy E [GeV]: p = √(E (E + 2m))."""
    E = np.asarray(E_GeV, dtype=float)
    return np.sqrt(E * (E + 2.0 * mass_GeV))


def kinetic_energy_GeV(p_GeV, mass_GeV: float = units.m_p_GeV):
    """Kinetic energy [GeV] from momentum p c [GeV]: E = √(p² + m²) − m = p² / (√(p² + m²) + m).

    The second form avoids the cancellation of the first for p ≪ m.
    """
    p = np.asarray(p_GeV, dtype=float)
    return p * p / (np.sqrt(p * p + mass_GeV ** 2) + mass_GeV)


def dp_dE(E_GeV, mass_GeV: float = units.m_p_GeV):
    """Jacobian dp/dE = (E + m)/p = 1/β of the kinetic-energy → momentum map (p in GeV/c)."""
    E = np.asarray(E_GeV, dtype=float)
    return (E + mass_GeV) / momentum_GeV(E, mass_GeV)


def beta(E_GeV, mass_GeV: float = units.m_p_GeV):
    """Speed over c, β = p/(E + m), at kinetic energy E [GeV]."""
    return 1.0 / dp_dE(E_GeV, mass_GeV)


def intensity_per_density(E_GeV, mass_GeV: float = units.m_p_GeV):
    """β c / 4π in cm s⁻¹ sr⁻¹: the differential intensity J = β c n / 4π (GeV⁻¹ cm⁻² s⁻¹ sr⁻¹) of an
    isotropic density n (GeV⁻¹ cm⁻³) of particles with kinetic energy E [GeV] and rest energy m."""
    return beta(E_GeV, mass_GeV) * units.c_cm_s / units.sr_full_sky


def rigidity_to_kinetic_GeV(R_GV, Z: int = 1, mass_GeV: float = units.m_p_GeV):
    """Kinetic energy per particle [GeV] at rigidity R [GV]: p c = |Z| R, E = √(p² + m²) − m."""
    return kinetic_energy_GeV(abs(Z) * np.asarray(R_GV, dtype=float), mass_GeV)


def kinetic_to_rigidity_GV(E_GeV, Z: int = 1, mass_GeV: float = units.m_p_GeV):
    """Rigidity R = p c /(|Z| e) [GV] of a particle with kinetic energy E [GeV]."""
    return momentum_GeV(E_GeV, mass_GeV) / abs(Z)


def dR_dE(E_GeV, Z: int = 1, mass_GeV: float = units.m_p_GeV):
    """Jacobian dR/dE = (E + m)/(|Z| p) [GV/GeV]; a flux per rigidity converts as J_E = J_R dR/dE."""
    return dp_dE(E_GeV, mass_GeV) / abs(Z)


# ------------------------------------------------------------------------------------ checks


def _positive(owner: str, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name}={value!r} must be a positive finite number") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive finite number")
    return v


def _index(owner: str, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name}={value!r} must be a finite number") from None
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {name}={value!r} must be a finite number")
    if v > 0:
        raise ValueError(f"{owner}: {name}={v!r} is positive, but indices follow the convention Q ∝ p^α with "
                         f"α ≤ 0 (Dörner et al. ICRC2025 eq. 2, e.g. alpha1=-2.35); did you mean {name}={-v!r}?")
    return v


def _optional_positive(owner: str, name: str, value: Any) -> float:
    """0 (or None) switches a feature off; otherwise a positive finite number."""
    if value is None or value == 0:
        return 0.0
    return _positive(owner, name, value)


# ------------------------------------------------------------------------------------ spectra


class _Spectrum(Model):
    """Shared behaviour of the dataclass spectra (parameters, copies, serialisation)."""

    type_name = ""

    def parameters(self) -> dict[str, float]:
        """All parameters as a plain dict (field name → value)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any):
        """A copy with some parameters changed (validated like the constructor)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": <registry name>, **parameters}`` — the inverse of :func:`spectrum_from_dict`."""
        return {"type": self.type_name, **self.parameters()}


@dataclass(frozen=True)
class PowerLaw(_Spectrum):
    """A power-law *source (injection) spectrum*: ``Q(x) = Q0 (x/x0)^α`` in momentum (default) or
    kinetic energy.

    Namesake: :class:`fpgal.diffusion.PowerLaw` is a power-law diffusion coefficient D(E).

    Parameters
    ----------
    Q0 : normalization at x = x0, per unit of x (see the module docstring for its units)
    alpha : index α ≤ 0 (Q ∝ x^α)
    x0_GeV : reference momentum [GeV/c] or kinetic energy [GeV]
    variable : ``"momentum"`` (the call applies the Jacobian dp/dE) or ``"kinetic_energy"``
    mass_GeV : rest energy of the species (proton)
    """

    Q0: float = 1.0
    alpha: float = -2.35
    x0_GeV: float = 1.0
    variable: str = "momentum"
    mass_GeV: float = units.m_p_GeV
    type_name = "power_law"

    def __post_init__(self) -> None:
        owner = "PowerLaw"
        object.__setattr__(self, "Q0", _positive(owner, "Q0", self.Q0))
        object.__setattr__(self, "alpha", _index(owner, "alpha", self.alpha))
        object.__setattr__(self, "x0_GeV", _positive(owner, "x0_GeV", self.x0_GeV))
        object.__setattr__(self, "mass_GeV", _positive(owner, "mass_GeV", self.mass_GeV))
        if self.variable not in ("momentum", "kinetic_energy"):
            raise ValueError(f"PowerLaw: variable={self.variable!r}; expected 'momentum' or 'kinetic_energy'")

    def __call__(self, E_GeV):
        """Q_E(E) per unit kinetic energy at kinetic energies E [GeV]."""
        E = np.asarray(E_GeV, dtype=float)
        if self.variable == "kinetic_energy":
            return self.Q0 * (E / self.x0_GeV) ** self.alpha
        p = momentum_GeV(E, self.mass_GeV)
        return self.Q0 * (p / self.x0_GeV) ** self.alpha * dp_dE(E, self.mass_GeV)


@dataclass(frozen=True)
class SmoothBrokenPowerLaw(_Spectrum):
    """Smoothly broken power law in momentum (Dörner et al. ICRC2025, eq. 2), per unit kinetic energy.

    ``Q(p) = Q0 (p/p_br)^α1 [1 + (p/p_br)^(1/w)]^((α2−α1) w)``  (per unit momentum)

    so Q ∝ p^α1 for p ≪ p_br and Q ∝ p^α2 for p ≫ p_br; w > 0 sets the width of the transition
    (w → 0: a sharp break; at p = p_br, Q = Q0 2^((α2−α1) w)). ``Q0`` is the normalization of the
    low-momentum branch extrapolated to p_br. Optional factors, both off by default (value 0):

    * a second smooth break, the knee: ``× [1 + (p/p_knee)^(1/w_knee)]^((α3−α2) w_knee)``;
    * an exponential cutoff in kinetic energy: ``× exp(−E/E_cut)``.

    Calling the object returns Q_E(E) = Q(p(E)) dp/dE, the rate per unit *kinetic energy*
    (Q(p) dp = Q_E(E) dE, dp/dE = (E + m)/p); :meth:`of_momentum` returns Q(p) itself.

    Parameters
    ----------
    Q0 : normalization, per unit momentum (GeV/c)⁻¹ × [rate density units], see module docstring
    p_br_GeV : break momentum p_br [GeV/c] (the hardening at a few hundred GeV)
    alpha1, alpha2 : indices below/above p_br, ≤ 0 (paper-like: α1 ≈ −2.35, α2 ≈ −2.1 … −2.2)
    w : smoothness of the break (> 0)
    E_cut_GeV : exponential cutoff energy [GeV]; 0 = none
    p_knee_GeV, alpha3, w_knee : optional second break (knee) [GeV/c]; p_knee_GeV = 0 = none
    mass_GeV : rest energy of the species (proton)
    """

    Q0: float = 1.0
    p_br_GeV: float = 500.0
    alpha1: float = -2.35
    alpha2: float = -2.1
    w: float = 0.1
    E_cut_GeV: float = 0.0
    p_knee_GeV: float = 0.0
    alpha3: float = -3.1
    w_knee: float = 0.1
    mass_GeV: float = units.m_p_GeV
    type_name = "smooth_broken_power_law"

    def __post_init__(self) -> None:
        owner = "SmoothBrokenPowerLaw"
        for name in ("Q0", "p_br_GeV", "w", "w_knee", "mass_GeV"):
            object.__setattr__(self, name, _positive(owner, name, getattr(self, name)))
        for name in ("alpha1", "alpha2", "alpha3"):
            object.__setattr__(self, name, _index(owner, name, getattr(self, name)))
        for name in ("E_cut_GeV", "p_knee_GeV"):
            object.__setattr__(self, name, _optional_positive(owner, name, getattr(self, name)))

    def log_of_momentum(self, p_GeV) -> np.ndarray:
        """ln Q(p) (per unit momentum), evaluated without overflow for any w."""
        lnx = np.log(np.asarray(p_GeV, dtype=float) / self.p_br_GeV)
        lnQ = (math.log(self.Q0) + self.alpha1 * lnx
               + (self.alpha2 - self.alpha1) * self.w * np.logaddexp(0.0, lnx / self.w))
        if self.p_knee_GeV > 0:
            lnk = np.log(np.asarray(p_GeV, dtype=float) / self.p_knee_GeV)
            lnQ = lnQ + (self.alpha3 - self.alpha2) * self.w_knee * np.logaddexp(0.0, lnk / self.w_knee)
        return lnQ

    def of_momentum(self, p_GeV):
        """Q(p) per unit momentum (GeV/c)⁻¹ at momenta p [GeV/c] (cutoff applied at E(p))."""
        p = np.asarray(p_GeV, dtype=float)
        lnQ = self.log_of_momentum(p)
        if self.E_cut_GeV > 0:
            lnQ = lnQ - kinetic_energy_GeV(p, self.mass_GeV) / self.E_cut_GeV
        return np.exp(lnQ)

    def __call__(self, E_GeV):
        """Q_E(E) = Q(p(E)) (E + m)/p per unit kinetic energy at kinetic energies E [GeV]."""
        E = np.asarray(E_GeV, dtype=float)
        lnQ = self.log_of_momentum(momentum_GeV(E, self.mass_GeV))
        if self.E_cut_GeV > 0:
            lnQ = lnQ - E / self.E_cut_GeV
        return np.exp(lnQ) * dp_dE(E, self.mass_GeV)


# ------------------------------------------------------------------------------------ registry

SPECTRA = Registry("spectrum type", {
    "power-law": PowerLaw,
    "powerlaw": PowerLaw,
    "smooth-broken-power-law": SmoothBrokenPowerLaw,
    "broken-power-law": SmoothBrokenPowerLaw,
    "sbpl": SmoothBrokenPowerLaw,
})


def register_spectrum(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**params)`` (any class whose instances are ``Q_E(E_GeV)`` callables) available by
    name (case-insensitive, ``_`` = ``-``, :mod:`fpgal.registry`)."""
    if not callable(factory):
        raise ValueError(f"register_spectrum: factory for {name!r} must be callable, got {factory!r}")
    SPECTRA.register(name, factory)


def spectrum_from_name(name: str, **params: Any):
    """Build a spectrum from its registry name, e.g. ``spectrum_from_name("sbpl", alpha1=-2.4)``."""
    factory = SPECTRA.factory(name)
    if dataclasses.is_dataclass(factory):
        allowed = {f.name for f in dataclasses.fields(factory)}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"spectrum {name!r}: unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")
    return factory(**params)


def spectrum_from_dict(spec: Mapping[str, Any]):
    """Inverse of ``to_dict``: ``{"type": "smooth_broken_power_law", "Q0": ..., ...}`` → spectrum."""
    params = dict(spec)
    name = params.pop("type", "smooth_broken_power_law")
    return spectrum_from_name(name, **params)


def spectrum_from_config(section: Any):
    """Spectrum from the ``[spectrum]`` config section (a dataclass or a mapping).

    Without a ``type`` key this is the reference study's :class:`SmoothBrokenPowerLaw`
    (keys Q0, p_br_GeV, alpha1, alpha2, w, E_cut_GeV, …).
    """
    if dataclasses.is_dataclass(section):
        params = dataclasses.asdict(section)
    elif isinstance(section, Mapping):
        params = dict(section)
    else:
        raise ValueError(f"spectrum_from_config: expected a dataclass or mapping, got {type(section).__name__}")
    return spectrum_from_dict(params)
