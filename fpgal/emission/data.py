"""Loaders of published diffuse gamma-ray spectra (read from the shared data folder, never copied).

All loaders return :class:`GammaPoints` in fpgal units: E in GeV, intensity I in
GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (so E² I is in GeV cm⁻² s⁻¹ sr⁻¹).

* LHAASO-KM2A, Cao et al., PRL 131, 151001 (2023), Tables S2 (inner Galaxy, 15° < l < 125°,
  |b| < 5°) and S3 (outer Galaxy, 125° < l < 235°, |b| < 5°): E in TeV, φ in TeV⁻¹ cm⁻² s⁻¹ sr⁻¹.
* Fermi-LAT, Ackermann et al., ApJ 750, 3 (2012), Fig. 17 (digitised): E in **MeV**,
  E² I (low, central, high) in MeV cm⁻² s⁻¹ sr⁻¹.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data import data_file

LHAASO_FILES = {"inner": "gamma_rays/LHAASO_KM2A_2023_TableS2_inner.txt",
                "outer": "gamma_rays/LHAASO_KM2A_2023_TableS3_outer.txt"}
FERMI_FILE = "gamma_rays/Ackermann2012_diffuse_Fig17.txt"


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


def _table(rel: str, explicit_dir) -> np.ndarray:
    path = data_file(rel, explicit_dir)
    arr = np.loadtxt(path, comments="#", ndmin=2)
    if arr.size == 0:
        raise ValueError(f"{path}: no data rows")
    return arr


def load_lhaaso_km2a(region: str = "inner", data_dir: str | os.PathLike | None = None) -> GammaPoints:
    """LHAASO-KM2A diffuse emission (2023) for ``region`` 'inner' or 'outer'.

    Error bars combine statistical and systematic errors in quadrature.
    """
    if region not in LHAASO_FILES:
        raise ValueError(f"LHAASO region {region!r}: expected 'inner' or 'outer'")
    a = _table(LHAASO_FILES[region], data_dir)
    if a.shape[1] != 7:
        raise ValueError(f"{LHAASO_FILES[region]}: expected 7 columns (logE_min logE_max E_TeV phi stat_lo "
                         f"stat_up sys), got {a.shape[1]}")
    E_TeV, phi, slo, shi, sys = a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6]
    to_GeV = 1.0e-3                      # TeV^-1 → GeV^-1
    return GammaPoints(label=f"LHAASO-KM2A ({region})", E_GeV=E_TeV * 1.0e3, I=phi * to_GeV,
                       I_lo=np.hypot(slo, sys) * to_GeV, I_hi=np.hypot(shi, sys) * to_GeV, region=region)


def load_fermi_ackermann2012(data_dir: str | os.PathLike | None = None) -> GammaPoints:
    """Fermi-LAT diffuse spectrum (Ackermann et al. 2012, Fig. 17); converted from MeV to GeV units."""
    a = _table(FERMI_FILE, data_dir)
    if a.shape[1] != 4:
        raise ValueError(f"{FERMI_FILE}: expected 4 columns (E_MeV, E2I low, central, high), got {a.shape[1]}")
    E = a[:, 0] * 1.0e-3                                  # MeV → GeV
    e2i = a[:, 1:4] * 1.0e-3                              # MeV cm^-2 s^-1 sr^-1 → GeV cm^-2 s^-1 sr^-1
    I = e2i[:, 1] / E ** 2
    return GammaPoints(label="Fermi-LAT (Ackermann+ 2012)", E_GeV=E, I=I,
                       I_lo=(e2i[:, 1] - e2i[:, 0]) / E ** 2, I_hi=(e2i[:, 2] - e2i[:, 1]) / E ** 2,
                       region="Ackermann2012 Fig. 17")
