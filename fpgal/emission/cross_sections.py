"""Differential production cross sections dσ/dE_s (mb/GeV) of γ rays and neutrinos, via ``aafragpy``.

Models (``cross_section=``)
---------------------------
* ``"aafrag"`` (default) — AAfrag 2.0 tables (QGSJET-II-04m; Kachelrieß, Moskalenko & Ostapchenko,
  CPC 245, 106846 (2019); Koldobskiy et al., PRD 104, 123027 (2021)), channels p–p, p–He, He–p,
  He–He, γ and all-flavour ν (ν_e + ν̄_e + ν_μ + ν̄_μ). The tables start at a total primary energy
  of 4 GeV (p) / 5 GeV (He nucleus); below that, p–p uses Kafexhiu et al. (2014, Geant4 fit) for γ
  and Kamae et al. (2006) for ν, the He channels are set to zero.
* ``"kafexhiu"`` / ``"kafexhiu-geant4"``, ``"kafexhiu-pythia8"``, ``"kafexhiu-sibyll"``,
  ``"kafexhiu-qgsjet"`` — Kafexhiu, Aharonian, Taylor & Vila, PRD 90, 123014 (2014), p–p → γ only
  (the fit stops at T_p = 1 PeV: zero above).
* ``"kamae"`` — Kamae et al., ApJ 647, 692 (2006), p–p → γ and ν (zero above E_p = 512 TeV).

For the p–p-only parametrizations, the channels with helium use that model's p–p cross section
times the AAfrag ratio (channel / p–p) at the same (E_p, E_s) — so switching models changes the
p–p physics but keeps the same nuclear scaling.

Energies: primaries by kinetic energy ``T`` per particle (for He the whole nucleus, as in the
AAfrag tables, whose primary energy is the total energy of the nucleus), secondaries by energy.
"""
from __future__ import annotations

import numpy as np

from ..core.log import get_logger

log = get_logger(__name__)

#: rest energies used with the AAfrag tables (aafragpy's proton mass; ⁴He nucleus)
MASS_GeV = {"p": 0.938272, "He": 3.727379}
CHANNELS = ("p-p", "p-He", "He-p", "He-He")
AAFRAG_SECONDARY = {"gamma": "gam", "neutrino": "nu_all"}
KAFEXHIU_MODELS = {"kafexhiu": "GEANT", "kafexhiu-geant4": "GEANT", "kafexhiu-pythia8": "PYTHIA",
                   "kafexhiu-sibyll": "SIBYLL", "kafexhiu-qgsjet": "QGSJET"}
MODELS = ("aafrag", "kamae") + tuple(KAFEXHIU_MODELS)


def _check(model: str, particle: str, channel: str) -> None:
    if model not in MODELS:
        raise ValueError(f"cross_section={model!r}: expected one of {', '.join(MODELS)}")
    if particle not in AAFRAG_SECONDARY:
        raise ValueError(f"particle={particle!r}: expected 'gamma' or 'neutrino'")
    if channel not in CHANNELS:
        raise ValueError(f"channel={channel!r}: expected one of {CHANNELS}")
    if model in KAFEXHIU_MODELS and particle != "gamma":
        raise ValueError(f"cross_section={model!r} gives gamma rays only; use 'aafrag' or 'kamae' for neutrinos")


def _aafrag(particle: str, channel: str, E_sec: np.ndarray, T: np.ndarray) -> np.ndarray:
    """AAfrag dσ/dE_s [mb/GeV], shape (n_s, n_p); zero outside the tabulated primary range."""
    import aafragpy
    E_tot = T + MASS_GeV[channel.split("-")[0]]
    cs, _, _ = aafragpy.get_cross_section(AAFRAG_SECONDARY[particle], channel, E_tot, E_sec,
                                          outside_bounds="zeros")
    cs = np.asarray(cs, dtype=float).reshape(len(T), len(E_sec)).T
    return np.where(np.isfinite(cs), cs, 0.0)


def aafrag_primary_range_GeV(particle: str, channel: str) -> tuple[float, float]:
    """(lowest, highest) tabulated total primary energy of an AAfrag channel [GeV]."""
    import aafragpy
    Ep, _, _ = aafragpy.open_data_files(AAFRAG_SECONDARY[particle], channel)
    return float(Ep[0]) / 1e9, float(Ep[-1]) / 1e9


def _kafexhiu(variant: str, E_sec: np.ndarray, T: np.ndarray) -> np.ndarray:
    from aafragpy.Kafexhiu2014 import F_gamma_Kafexhiu2014
    out = np.zeros((len(E_sec), len(T)))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for j, t in enumerate(T):                 # the parametrization is scalar in T_p
            out[:, j] = [F_gamma_Kafexhiu2014(float(t), float(e), variant) for e in E_sec]
    return np.where(np.isfinite(out), out, 0.0)


def _kamae(particle: str, E_sec: np.ndarray, T: np.ndarray) -> np.ndarray:
    import aafragpy
    sec = AAFRAG_SECONDARY[particle]
    cs, _, _ = aafragpy.get_cross_section_Kamae2006(sec, T + MASS_GeV["p"], E_sec)
    cs = np.asarray(cs, dtype=float).reshape(len(T), len(E_sec)).T
    return np.where(np.isfinite(cs) & (cs > 0), cs, 0.0)


def _fill_along_primary(R: np.ndarray) -> np.ndarray:
    """Replace NaNs of a ratio matrix (n_s, n_p) by the nearest valid value along the primary axis."""
    out = R.copy()
    n_p = R.shape[1]
    idx = np.arange(n_p)
    for i in range(R.shape[0]):
        ok = np.isfinite(R[i])
        if not ok.any():
            out[i] = 0.0
            continue
        nearest = np.abs(idx[:, None] - idx[ok][None, :]).argmin(axis=1)
        out[i] = R[i, ok][nearest]
    return out


def dsigma_dE(E_sec_GeV, T_primary_GeV, cross_section: str = "aafrag", particle: str = "gamma",
              channel: str = "p-p") -> np.ndarray:
    """dσ/dE_s [mb/GeV] for secondary energies (n_s,) and primary kinetic energies (n_p,) → (n_s, n_p).

    ``T_primary_GeV`` is the kinetic energy per particle (per nucleus for He primaries).
    """
    _check(cross_section, particle, channel)
    E_sec = np.atleast_1d(np.asarray(E_sec_GeV, dtype=float))
    T = np.atleast_1d(np.asarray(T_primary_GeV, dtype=float))
    if np.any(E_sec <= 0) or np.any(T <= 0):
        raise ValueError("dsigma_dE: energies must be positive (GeV)")
    if cross_section == "aafrag":
        cs = _aafrag(particle, channel, E_sec, T)
        lo, _ = aafrag_primary_range_GeV(particle, channel)
        below = (T + MASS_GeV[channel.split("-")[0]]) < lo / 1.001
        if below.any():
            if channel == "p-p":
                cs[:, below] = (_kafexhiu("GEANT", E_sec, T[below]) if particle == "gamma"
                                else _kamae(particle, E_sec, T[below]))
            else:
                cs[:, below] = 0.0
        return cs
    if channel == "p-p":
        return _kafexhiu(KAFEXHIU_MODELS[cross_section], E_sec, T) if cross_section in KAFEXHIU_MODELS \
            else _kamae(particle, E_sec, T)
    # helium channels: model p–p × AAfrag (channel / p–p) at the same kinetic energy per particle
    pp_model = dsigma_dE(E_sec, T, cross_section, particle, "p-p")
    with np.errstate(divide="ignore", invalid="ignore"):
        R = _aafrag(particle, channel, E_sec, T) / _aafrag(particle, "p-p", E_sec, T)
    R = np.where(np.isfinite(R) & (R > 0), R, np.nan)
    return pp_model * _fill_along_primary(R)
