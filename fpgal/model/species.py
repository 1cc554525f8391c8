"""CR species (charge Z, mass number A, rest energy m) and the kinematics that relate their energy scales.

A species is one entry of :data:`SPECIES`; everything else (data conversion, transport relabelling,
fits, emission) reads Z, A and m from it, so adding a nucleus is one more entry, not more code.

Energy variables of a nucleus of charge Z e, mass number A and rest energy m (natural units, c = 1,
energies and momenta in GeV, rigidity in GV):

* kinetic energy per particle ``E`` (fpgal's transport variable),
* kinetic energy per nucleon ``E_n = E / A``,
* total energy per particle ``E_tot = E + m``,
* momentum per particle ``p = √(E (E + 2m))``,
* rigidity ``R = p / Z``.

Fluxes per unit of one variable convert with the Jacobian ``J_E = J_x dx/dE``:
dE_n/dE = 1/A, dE_tot/dE = 1, dp/dE = (E + m)/p = 1/β, dR/dE = (E + m)/(Z p).

Transport of a second species (convention, stated in docs/fit.md): the parallel diffusion coefficient
of the reference study (Dörner et al. ICRC2025 eq. 1) is a law in the *proton* kinetic energy; every
species diffuses with the same coefficient at equal rigidity, D_X(R) = D∥(E_p(R)), with the same
tensor shape, sources and boundary. With pure diffusion (no losses) the steady equation
−∇·(D(R) T(x) ∇n) = Q_E(E) s(x) is then the proton equation re-labelled in rigidity, so the density per
unit injection rate (the Green's function) of species X at rigidity R equals the proton one:

    n_X(E_X, x) / Q_X,E(E_X) = n_p(E_p, x) / Q_p,E(E_p),      E_X = E_X(R), E_p = E_p(R)

(:func:`fpgal.relabel.relabel_in_rigidity`; no new solve). Rest energies: m_p (CODATA 2018) and the ⁴He nucleus
3727.3794066 MeV (CODATA 2018, α particle).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import spectra
from ..core import units
from ..core.modelbase import Model

ENERGY_VARIABLES = ("kinetic", "kinetic_per_nucleon", "total", "momentum", "rigidity")
M_HE4_GeV = 3.7273794066     # ⁴He nucleus (α particle) rest energy [GeV], CODATA 2018 (3727.3794066 MeV)


@dataclass(frozen=True)
class Species(Model):
    """A CR nucleus: ``symbol``, charge number ``Z``, mass number ``A``, rest energy ``mass_GeV``.

    The conversion methods take and return numpy arrays (vectorised); ``E`` is always the kinetic
    energy per particle in GeV (see the module docstring for the other variables and their units).
    """

    symbol: str
    Z: int
    A: int
    mass_GeV: float

    def __post_init__(self) -> None:
        for name in ("Z", "A"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Species {self.symbol!r}: {name}={v!r}; expected an integer >= 1")
        if not (np.isfinite(self.mass_GeV) and self.mass_GeV > 0):
            raise ValueError(f"Species {self.symbol!r}: mass_GeV={self.mass_GeV!r}; expected a positive rest energy")

    def momentum_GeV(self, E_GeV) -> np.ndarray:
        """Momentum per particle p c = √(E (E + 2m)) [GeV]."""
        return spectra.momentum_GeV(_nonnegative(E_GeV, "E_GeV", "kinetic energy per particle [GeV]"), self.mass_GeV)

    def rigidity_GV(self, E_GeV) -> np.ndarray:
        """Rigidity R = p c / (Z e) [GV]."""
        return self.momentum_GeV(E_GeV) / self.Z

    def kinetic_from_momentum_GeV(self, p_GeV) -> np.ndarray:
        """E = √(p² + m²) − m = p² / (√(p² + m²) + m) [GeV] (the second form is exact for p ≪ m)."""
        return spectra.kinetic_energy_GeV(_nonnegative(p_GeV, "p_GeV", "momentum per particle [GeV/c]"), self.mass_GeV)

    def kinetic_from_rigidity_GeV(self, R_GV) -> np.ndarray:
        """Kinetic energy per particle [GeV] at rigidity R [GV] (p c = Z R)."""
        return self.kinetic_from_momentum_GeV(self.Z * _nonnegative(R_GV, "R_GV", "rigidity [GV]"))

    def to_kinetic(self, x, variable: str) -> np.ndarray:
        """Kinetic energy per particle [GeV] from ``x`` in ``variable`` (one of :data:`ENERGY_VARIABLES`)."""
        x = np.asarray(x, dtype=float)
        if variable == "kinetic":
            return _nonnegative(x, "x", "kinetic energy per particle [GeV]")
        if variable == "kinetic_per_nucleon":
            return self.A * _nonnegative(x, "x", "kinetic energy per nucleon [GeV/n]")
        if variable == "total":
            if np.any(x < self.mass_GeV):
                raise ValueError(f"{self.symbol}: total energies {x[x < self.mass_GeV].tolist()} GeV lie below the "
                                 f"rest energy {self.mass_GeV} GeV")
            return x - self.mass_GeV
        if variable == "momentum":
            return self.kinetic_from_momentum_GeV(x)
        if variable == "rigidity":
            return self.kinetic_from_rigidity_GeV(x)
        raise ValueError(f"energy variable {variable!r}; expected one of {ENERGY_VARIABLES}")

    def from_kinetic(self, E_GeV, variable: str) -> np.ndarray:
        """``E`` [GeV, kinetic per particle] expressed in ``variable`` (GeV/n, GeV, GeV/c or GV)."""
        E = _nonnegative(E_GeV, "E_GeV", "kinetic energy per particle [GeV]")
        if variable == "kinetic":
            return E.copy()
        if variable == "kinetic_per_nucleon":
            return E / self.A
        if variable == "total":
            return E + self.mass_GeV
        if variable == "momentum":
            return self.momentum_GeV(E)
        if variable == "rigidity":
            return self.rigidity_GV(E)
        raise ValueError(f"energy variable {variable!r}; expected one of {ENERGY_VARIABLES}")

    def jacobian(self, E_GeV, variable: str) -> np.ndarray:
        """dx/dE of ``variable`` x at kinetic energy E: a flux per unit x converts as J_E = J_x dx/dE."""
        E = _nonnegative(E_GeV, "E_GeV", "kinetic energy per particle [GeV]")
        if variable == "kinetic" or variable == "total":
            return np.ones_like(E)
        if variable == "kinetic_per_nucleon":
            return np.full_like(E, 1.0 / self.A)
        dp = spectra.dp_dE(E, self.mass_GeV)
        if variable == "momentum":
            return dp
        if variable == "rigidity":
            return dp / self.Z
        raise ValueError(f"energy variable {variable!r}; expected one of {ENERGY_VARIABLES}")

    def same_rigidity_energy_GeV(self, E_GeV, other: "Species") -> np.ndarray:
        """Kinetic energy per particle of ``other`` at the rigidity a ``self`` particle of energy E has."""
        return other.kinetic_from_rigidity_GeV(self.rigidity_GV(E_GeV))


SPECIES: dict[str, Species] = {
    "H": Species("H", 1, 1, units.m_p_GeV),
    "He": Species("He", 2, 4, M_HE4_GeV),
}
_ALIASES = {"p": "H", "proton": "H", "h": "H", "he": "He", "helium": "He", "alpha": "He"}


def species_info(symbol: str | Species) -> Species:
    """The :class:`Species` of a symbol of :data:`SPECIES` (``"H"``, ``"He"``; aliases ``p``, ``helium``)."""
    if isinstance(symbol, Species):
        return symbol
    key = _ALIASES.get(str(symbol).lower(), symbol) if symbol not in SPECIES else symbol
    try:
        return SPECIES[key]
    except KeyError:
        raise ValueError(f"CR species {symbol!r}; expected one of {list(SPECIES)} (or {sorted(_ALIASES)})") from None


def register_species(species: Species) -> None:
    """Add a nucleus (e.g. ``Species("C", 6, 12, 11.1749)``): fits, relabelling and data loading then know it."""
    if not isinstance(species, Species):
        raise ValueError(f"register_species: expected a Species, got {species!r}")
    SPECIES[species.symbol] = species


def _nonnegative(x, name: str, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if np.any(bad):
        raise ValueError(f"{name}: {np.atleast_1d(arr)[np.atleast_1d(bad)][:3].tolist()} is not a {what} "
                         "(expected finite values >= 0)")
    return arr


__all__ = ["Species", "SPECIES", "ENERGY_VARIABLES", "M_HE4_GeV", "species_info", "register_species"]
