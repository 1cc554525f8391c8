"""Gamma-ray and neutrino maps per CR species (p only, He only, their sum) and the neutrino comparison.

The emissivity per gas H nucleus is linear in each CR species (:mod:`.emissivity`):

    q(E_s) = q_p(E_s) + q_He(E_s),
    q_p  = ∫ dT c β n_p(T)  [dσ_pp/dE_s + f_He dσ_pHe/dE_s],
    q_He = ∫ dT c β n_He(T) [dσ_Hep/dE_s + f_He dσ_HeHe/dE_s]      (T per nucleus, AAfrag 2.0 tables)

so the maps of the two species are computed separately and their sum is the total; both go through
one line-of-sight pass (the two emissivities stacked along the energy axis). Neutrinos: AAfrag's
all-flavour yield (ν_e + ν̄_e + ν_μ + ν̄_μ at production; ν_τ comes from oscillations); after
oscillation over Galactic distances the flavour ratio is ≈ 1:1:1, so the per-flavour (ν + ν̄)
intensity is one third of the all-flavour one. The all-sky integrated per-flavour flux is

    F(E) = (1/3) ∫ I_all(E, Ω) dΩ = (4π/3) ⟨I_all⟩_pixels   [GeV⁻¹ cm⁻² s⁻¹]

(HEALPix pixels have equal area), compared as E² F with IceCube's Galactic-plane KRA-γ fits
(Science 380, 1338 (2023); :func:`fpgal.emission.skydata.load_icecube_galactic_plane`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ..core import units
from ..core.checks import renamed_keywords
from ..result import CRDensity
from .cross_sections import MASS_GeV
from .emissivity import _checked_density, apply_to, check_energies, factorized_parts, production_matrix
from .maps import skymap

SPECIES_KEYS = ("p", "He", "total")
EXTEND = 1.05          # tables are extended by at most this factor in energy beyond their ends


def _check_helium(cr_helium) -> None:
    if not isinstance(cr_helium, CRDensity):
        raise TypeError(f"cr_helium={cr_helium!r}: expected an fpgal.CRDensity of CR helium nuclei")
    if abs(cr_helium.mass_GeV - MASS_GeV["He"]) > 0.05:
        raise ValueError(f"cr_helium.mass_GeV={cr_helium.mass_GeV}: expected the 4He nucleus rest energy "
                         f"{MASS_GeV['He']} GeV (energies are kinetic energy per nucleus)")


def helium_emissivity(cr_helium: CRDensity, E_GeV, cross_section: str = "aafrag", particle: str = "gamma",
                      helium_fraction: float = 0.1, n_sub: int = 8) -> np.ndarray:
    """q_He(E, x) per gas H nucleus [GeV⁻¹ s⁻¹] of CR helium alone (He–H and f_He He–He), (nE, nx, ny, nz).

    ``cr_helium``: energies = kinetic energy per nucleus, ``mass_GeV`` of ⁴He (e.g. from
    :func:`fpgal.relabel.relabel_in_rigidity`).
    """
    E = check_energies(E_GeV)
    _check_helium(cr_helium)
    pm = production_matrix(E, cr_helium.grid.E_GeV, cr_helium.mass_GeV, "He", cross_section, particle,
                           helium_fraction, n_sub)
    return apply_to(pm, cr_helium, "CR helium")


def _separable(pm, cr: CRDensity, what: str) -> tuple[np.ndarray, np.ndarray]:
    """q = coeffs @ fields: the two-term form of a factorized density, else (identity, full q)."""
    parts = factorized_parts(pm, cr)
    if parts is not None:
        return parts
    return np.eye(pm.E_sec_GeV.size), pm.apply(_checked_density(cr, what))


def species_emissivities(cr_p: CRDensity, cr_helium: CRDensity | None, E_GeV, cross_section: str = "aafrag",
                         particle: str = "gamma", helium_fraction: float = 0.1,
                         n_sub: int = 8) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"p": (coeffs, fields), "He": ...}`` with q = coeffs @ fields per gas H nucleus [GeV⁻¹ s⁻¹]:
    coeffs (nE, K), fields (K, nx, ny, nz); K = 2 for a factorized density (:func:`.emissivity.factorized_parts`),
    else K = nE with the full q. No "He" without helium."""
    E = check_energies(E_GeV)
    if not isinstance(cr_p, CRDensity):
        raise TypeError(f"cr_p={cr_p!r}: expected an fpgal.CRDensity of CR protons")
    pm = production_matrix(E, cr_p.grid.E_GeV, cr_p.mass_GeV, "p", cross_section, particle, helium_fraction, n_sub)
    out = {"p": _separable(pm, cr_p, "CR protons")}
    if cr_helium is not None:
        if not cr_helium.grid.same_space(cr_p.grid):
            raise ValueError(f"cr_helium grid {cr_helium.grid!r} differs in space from the proton grid {cr_p.grid!r}")
        _check_helium(cr_helium)
        pm = production_matrix(E, cr_helium.grid.E_GeV, cr_helium.mass_GeV, "He", cross_section, particle,
                               helium_fraction, n_sub)
        out["He"] = _separable(pm, cr_helium, "CR helium")
    return out


@renamed_keywords(observer_kpc="sun_kpc")
def stacked_skymaps(cr: CRDensity, gas: Callable[[np.ndarray], np.ndarray], blocks: Mapping[str, tuple], nside: int,
                    sun_kpc=units.sun_position_kpc, directions: np.ndarray | None = None,
                    step_kpc: float | None = None, dz_kpc: float | None = 0.05) -> dict[str, np.ndarray]:
    """Maps of several emissivities ``{name: (coeffs, fields)}`` (q = coeffs @ fields on ``cr``'s grid) from one
    line-of-sight pass (no absorption). The LOS integral is linear in q, so only the distinct spatial fields
    are integrated (two for factorized densities that share G(x)) and each map is coeffs @ LOS(fields)."""
    import hashlib
    unique, index = [], {}
    where = {}
    for name, (coeffs, fields) in blocks.items():
        rows = []
        for f in np.asarray(fields, dtype=float):
            key = hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest()
            if key not in index:
                index[key] = len(unique)
                unique.append(f)
            rows.append(index[key])
        where[name] = rows
    los = skymap(cr, gas, np.ones(len(unique)), nside, sun_kpc=sun_kpc, q=np.stack(unique),
                 directions=directions, step_kpc=step_kpc, dz_kpc=dz_kpc)
    return {name: np.asarray(blocks[name][0], dtype=float) @ los[rows] for name, rows in where.items()}


@renamed_keywords(observer_kpc="sun_kpc")
def species_skymaps(cr_p: CRDensity, cr_helium: CRDensity | None, gas: Callable[[np.ndarray], np.ndarray],
                    E_GeV, nside: int, sun_kpc=units.sun_position_kpc, cross_section: str = "aafrag",
                    particle: str = "gamma", helium_fraction: float = 0.1, n_sub: int = 8,
                    directions: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """HEALPix maps (nE, npix) [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] of ``{"p": ..., "He": ..., "total": ...}``.

    Without ``cr_helium`` only ``"p"`` and ``"total"`` (equal) are returned. One LOS pass for both species.
    ``sun_kpc`` is the observer (old name ``observer_kpc``), default :data:`fpgal.units.sun_position_kpc`.
    """
    E = check_energies(E_GeV)
    q = species_emissivities(cr_p, cr_helium, E, cross_section, particle, helium_fraction, n_sub)
    return with_total(stacked_skymaps(cr_p, gas, q, nside, sun_kpc, directions))


def with_total(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``maps`` of the species plus ``"total"``, their sum."""
    out = dict(maps)
    out["total"] = sum(out.values())
    return out


def per_flavour_all_sky_flux(maps_all_flavour: np.ndarray) -> np.ndarray:
    """All-sky integrated per-flavour flux F(E) = (4π/3) ⟨I_all⟩ [GeV⁻¹ cm⁻² s⁻¹] from all-flavour maps (nE, npix)."""
    m = np.asarray(maps_all_flavour, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"maps_all_flavour has shape {m.shape}; expected (nE, npix) all-flavour intensity maps")
    return 4.0 * np.pi * m.mean(axis=1) / 3.0


def icecube_ratio(E_GeV: np.ndarray, E2F_model: np.ndarray, reference, at_GeV: Sequence[float]) -> dict[str, float]:
    """Model E²F / IceCube E²F at energies ``at_GeV`` (both interpolated log-log), plus IceCube's band there.

    The tables may be extended by up to a factor :data:`EXTEND` in energy beyond their ends along their
    last log-log segment (the IceCube tables end at 98.3 TeV; 100 TeV lies 1.7 % beyond).

    ``reference``: a :class:`fpgal.emission.skydata.NeutrinoFlux`. Returns ``{"<E>": ratio, "<E>_lo": ratio
    at IceCube's +1σ normalisation, "<E>_hi": at its −1σ}`` keyed by the energy in GeV (``f"{E:g}"``).
    """
    E, M = np.asarray(E_GeV, dtype=float), np.asarray(E2F_model, dtype=float)
    at = np.asarray(at_GeV, dtype=float)
    for grid, name in ((E, "model"), (reference.E_GeV, reference.label)):
        if np.any(at < grid.min() / EXTEND) or np.any(at > grid.max() * EXTEND):
            raise ValueError(f"icecube_ratio: energies {at.tolist()} GeV outside the {name} range "
                             f"[{grid.min():.4g}, {grid.max():.4g}] GeV")

    def loglog(x, xs, ys):
        lx, lxs, lys = np.log(x), np.log(xs), np.log(ys)
        y = np.interp(lx, lxs, lys)
        lo_slope = (lys[1] - lys[0]) / (lxs[1] - lxs[0])
        hi_slope = (lys[-1] - lys[-2]) / (lxs[-1] - lxs[-2])
        y = np.where(lx < lxs[0], lys[0] + lo_slope * (lx - lxs[0]), y)
        y = np.where(lx > lxs[-1], lys[-1] + hi_slope * (lx - lxs[-1]), y)
        return np.exp(y)
    model = loglog(at, E, M)
    ref = loglog(at, reference.E_GeV, reference.E2F)
    hi = loglog(at, reference.E_GeV, reference.E2F + reference.E2F_hi)
    lo = loglog(at, reference.E_GeV, np.maximum(reference.E2F - reference.E2F_lo, 1e-300))
    out: dict[str, float] = {}
    for e, m, r, h, l in zip(at, model, ref, hi, lo):
        out[f"{e:g}"] = float(m / r)
        out[f"{e:g}_lo"] = float(m / h)
        out[f"{e:g}_hi"] = float(m / l)
    return out


__all__ = ["helium_emissivity", "species_emissivities", "stacked_skymaps", "species_skymaps", "with_total", "per_flavour_all_sky_flux", "icecube_ratio", "SPECIES_KEYS"]
