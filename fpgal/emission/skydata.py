"""Loaders of the published diffuse gamma-ray and neutrino spectra shipped with fpgal (the sky's
counterpart of :mod:`fpgal.analysis.crdata`; formerly ``fpgal.emission.data``, renamed because
:mod:`fpgal.data` is the package-data folder and table reader that both loaders use).

The tables live in ``fpgal/core/data/gamma_rays`` and ``fpgal/core/data/neutrinos`` (fpgal table format,
``docs/data.md``; override folder: config key ``data_dir`` or ``$FPGAL_DATA``). Their headers state the
units; the loaders convert to fpgal units: E in GeV, intensity I in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (so E² I is in
GeV cm⁻² s⁻¹ sr⁻¹), neutrino E² F in GeV cm⁻² s⁻¹.

* LHAASO-KM2A, Cao et al., PRL 131, 151001 (2023), Tables S2 (inner Galaxy, 15° < l < 125°,
  |b| < 5°) and S3 (outer Galaxy, 125° < l < 235°, |b| < 5°): E in TeV, I in TeV⁻¹ cm⁻² s⁻¹ sr⁻¹.
* Fermi-LAT, Ackermann et al., ApJ 750, 3 (2012), Fig. 17 (digitised): E in MeV,
  E² I (central, band low, band high) in MeV cm⁻² s⁻¹ sr⁻¹.
* IceCube, Science 380, 1338 (2023): Galactic-plane neutrinos, KRA-γ templates with 5 and 50 PeV
  cutoffs times their best-fit normalisations (0.55 +0.18 −0.15 and 0.37 +0.13 −0.11): E_ν in GeV,
  per-flavour (ν + ν̄) E² F integrated over the whole sky in GeV cm⁻² s⁻¹.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from ..core import units
from ..core.data import DataPath, Table, TableFormatError, data_file, read_table

LHAASO_FILES = {"inner": "gamma_rays/LHAASO-KM2A_2023_inner.txt",
                "outer": "gamma_rays/LHAASO-KM2A_2023_outer.txt"}
FERMI_FILE = "gamma_rays/Fermi-LAT_Ackermann2012_Fig17.txt"
ICECUBE_FILES = {"kra5": "neutrinos/IceCube2023_GP_KRA-gamma-5PeV.txt",
                 "kra50": "neutrinos/IceCube2023_GP_KRA-gamma-50PeV.txt"}

ENERGY_GeV = {"MeV": units.MeV_GeV, "GeV": units.GeV, "TeV": units.TeV_GeV, "PeV": units.PeV_GeV}
# quantity → (columns it needs, units with the energy unit as "{E}", power of that energy unit)
GAMMA_QUANTITIES = {
    "intensity": (("E", "I", "stat_lo", "stat_hi", "sys"), "{E}^-1 cm^-2 s^-1 sr^-1", -1),
    "E2_intensity": (("E", "E2I", "E2I_lo", "E2I_hi"), "{E} cm^-2 s^-1 sr^-1", 1),
}
NEUTRINO_QUANTITY = ("E2_flux", ("E", "E2F", "err_lo", "err_hi"), "{E} cm^-2 s^-1", 1)


@dataclass(frozen=True)
class GammaPoints:
    """Measured intensity points: ``I`` with lower/upper 1σ errors (stat ⊕ sys where available)."""

    label: str
    E_GeV: np.ndarray
    I: np.ndarray                 # GeV^-1 cm^-2 s^-1 sr^-1
    I_lo: np.ndarray              # error bar below (absolute, same units)
    I_hi: np.ndarray              # error bar above
    region: str = ""

    @property
    def E2I(self) -> np.ndarray:
        """E² I in GeV cm⁻² s⁻¹ sr⁻¹."""
        return self.E_GeV ** 2 * self.I


@dataclass(frozen=True)
class NeutrinoFlux:
    """A per-flavour (ν + ν̄) all-sky neutrino spectrum E² F with lower/upper 1σ errors.

    ``E_GeV`` [GeV]; ``E2F``, ``E2F_lo``, ``E2F_hi`` [GeV cm⁻² s⁻¹] (errors absolute).
    """

    label: str
    E_GeV: np.ndarray
    E2F: np.ndarray
    E2F_lo: np.ndarray
    E2F_hi: np.ndarray

    @property
    def E2F_all_flavour(self) -> np.ndarray:
        """E² F summed over the three flavours (= 3 × per flavour) [GeV cm⁻² s⁻¹]."""
        return 3.0 * self.E2F

    @property
    def mean_E2I(self) -> np.ndarray:
        """Per-flavour E² I averaged over the sky, E² F / (4π sr) [GeV cm⁻² s⁻¹ sr⁻¹]."""
        return self.E2F / (4.0 * math.pi)


# ------------------------------------------------------------------------------------ units


def energy_factor(unit: str, where: str = "") -> float:
    """GeV per ``unit`` (MeV, GeV, TeV, PeV)."""
    if unit not in ENERGY_GeV:
        raise TableFormatError(f"{where}: energy unit {unit!r}; expected one of {list(ENERGY_GeV)}")
    return ENERGY_GeV[unit]


def quantity_factor(units_text: str, pattern: str, power: int, where: str = "") -> float:
    """Factor to fpgal units of a quantity whose units are ``pattern`` with an energy unit for ``{E}``.

    E.g. ``"TeV^-1 cm^-2 s^-1 sr^-1"`` with pattern ``"{E}^-1 cm^-2 s^-1 sr^-1"`` and power −1 → 10⁻³.
    """
    regex = "^" + re.escape(pattern).replace(re.escape("{E}"), "(?P<E>[A-Za-z]+)") + "$"
    m = re.match(regex, units_text)
    if not m:
        raise TableFormatError(f"{where}: quantity_units {units_text!r}; expected {pattern!r} with {{E}} one of "
                               f"{list(ENERGY_GeV)}")
    return energy_factor(m.group("E"), where) ** power


def _checked(table: Table, species: str, quantity: str, columns: tuple[str, ...]) -> None:
    meta, where = table.meta, table.path
    for key, want in (("species", species), ("quantity", quantity), ("abscissa", "energy")):
        if meta[key] != want:
            raise TableFormatError(f"{where}: {key} {meta[key]!r}; expected {want!r}")
    missing = [c for c in columns if c not in table]
    if missing:
        raise TableFormatError(f"{where}: {quantity} table lacks the columns {missing}; needs {list(columns)}")


# ------------------------------------------------------------------------------------ gamma rays


def read_gamma_table(path: DataPath, label: str | None = None, region: str = "") -> GammaPoints:
    """A diffuse gamma-ray table in the fpgal format → :class:`GammaPoints` in GeV units.

    ``quantity: intensity`` (columns ``E I stat_lo stat_hi sys``): errors are stat ⊕ sys per side.
    ``quantity: E2_intensity`` (columns ``E E2I E2I_lo E2I_hi``, the lower/upper band edges): the
    error bars are the distances to the band edges. ``label`` defaults to the header's ``dataset``.
    """
    table = read_table(path)
    meta, where = table.meta, table.path
    quantity = meta["quantity"]
    if quantity not in GAMMA_QUANTITIES:
        raise TableFormatError(f"{where}: quantity {quantity!r}; expected one of {list(GAMMA_QUANTITIES)}")
    columns, pattern, power = GAMMA_QUANTITIES[quantity]
    _checked(table, "gamma", quantity, columns)
    to_GeV = energy_factor(meta["abscissa_units"], where)
    factor = quantity_factor(meta["quantity_units"], pattern, power, where)
    E = table.column("E") * to_GeV
    if quantity == "intensity":
        sys = table.column("sys")
        I = table.column("I") * factor
        I_lo = np.hypot(table.column("stat_lo"), sys) * factor
        I_hi = np.hypot(table.column("stat_hi"), sys) * factor
    else:
        e2i, lo, hi = (table.column(c) * factor for c in ("E2I", "E2I_lo", "E2I_hi"))
        I, I_lo, I_hi = e2i / E ** 2, (e2i - lo) / E ** 2, (hi - e2i) / E ** 2
    return GammaPoints(label=label or meta["dataset"], E_GeV=E, I=I, I_lo=I_lo, I_hi=I_hi, region=region)


def load_lhaaso_km2a(region: str = "inner", data_dir: str | os.PathLike | None = None) -> GammaPoints:
    """LHAASO-KM2A diffuse emission (2023) for ``region`` 'inner' or 'outer'.

    Error bars combine statistical and systematic errors in quadrature.
    """
    if region not in LHAASO_FILES:
        raise ValueError(f"LHAASO region {region!r}: expected 'inner' or 'outer'")
    return read_gamma_table(data_file(LHAASO_FILES[region], data_dir), label=f"LHAASO-KM2A ({region})",
                            region=region)


def load_fermi_ackermann2012(data_dir: str | os.PathLike | None = None) -> GammaPoints:
    """Fermi-LAT diffuse spectrum (Ackermann et al. 2012, Fig. 17); converted from MeV to GeV units."""
    return read_gamma_table(data_file(FERMI_FILE, data_dir), label="Fermi-LAT (Ackermann+ 2012)",
                            region="Ackermann2012 Fig. 17")


# ------------------------------------------------------------------------------------ neutrinos


def read_neutrino_table(path: DataPath, label: str | None = None) -> NeutrinoFlux:
    """A neutrino table in the fpgal format (``quantity: E2_flux``, columns ``E E2F err_lo err_hi``)."""
    table = read_table(path)
    meta, where = table.meta, table.path
    quantity, columns, pattern, power = NEUTRINO_QUANTITY
    _checked(table, "nu", quantity, columns)
    to_GeV = energy_factor(meta["abscissa_units"], where)
    factor = quantity_factor(meta["quantity_units"], pattern, power, where)
    E2F, lo, hi = (table.column(c) * factor for c in ("E2F", "err_lo", "err_hi"))
    return NeutrinoFlux(label=label or meta["dataset"], E_GeV=table.column("E") * to_GeV, E2F=E2F, E2F_lo=lo,
                        E2F_hi=hi)


def load_icecube_galactic_plane(model: str = "kra5", data_dir: str | os.PathLike | None = None) -> NeutrinoFlux:
    """IceCube (2023) Galactic-plane neutrino flux for the KRA-γ template ``model`` 'kra5' or 'kra50'.

    Per-flavour (ν + ν̄) E² F integrated over the whole sky [GeV cm⁻² s⁻¹]; the errors are those of the
    template normalisation (fully correlated between energies).
    """
    if model not in ICECUBE_FILES:
        raise ValueError(f"IceCube Galactic-plane model {model!r}: expected one of {list(ICECUBE_FILES)}")
    cutoff = {"kra5": "5 PeV", "kra50": "50 PeV"}[model]
    return read_neutrino_table(data_file(ICECUBE_FILES[model], data_dir),
                               label=f"IceCube 2023 (KRA-γ, {cutoff} cutoff)")
