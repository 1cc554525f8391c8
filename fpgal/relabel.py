"""Density of another CR species from the proton solution, re-labelled in rigidity (no new solve).

With pure diffusion and D∥ a function of rigidity R = pc/(Ze), the Green's function of species X at
rigidity R equals the proton one at the same R (docs/fit.md §6):

    n_X(E_X(R), x) = Q_X(E_X(R)) · n_p(E_p(R), x) / S_ref(E_p(R))

where n_p was solved with the reference spectrum S_ref. Losses break this (their rates differ
between species), so a solution with losses is refused.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .result import CRDensity
from .model.species import SPECIES, Species, species_info


def _check_pure_diffusion(cr) -> None:
    meta = cr.meta
    losses = str(meta.get("losses", "None"))
    if bool(meta.get("energy_coupled", False)) or losses not in ("None", ""):
        raise ValueError(f"relabel_in_rigidity: the proton solution has losses ({losses!r}, energy_coupled="
                         f"{meta.get('energy_coupled', False)}); the rigidity re-labelling holds for pure diffusion "
                         "only (loss rates differ between species): solve the species itself instead")


def relabel_in_rigidity(cr_p, spectrum_ref_p: Callable, spectrum_X: Callable, species: str | Species = "He"):
    """Density of species X from a proton solution by re-labelling its Green's function in rigidity.

    n_X(E_X,i, x) = Q_X,E(E_X,i) · n_p(E_i, x) / S_ref(E_i),  E_X,i = E_X(R(E_i))

    (module docstring; pure diffusion only). ``cr_p`` is a proton :class:`fpgal.CRDensity` solved with
    the source spectrum ``spectrum_ref_p`` (per unit proton kinetic energy); ``spectrum_X`` is X's
    injection spectrum per unit kinetic energy per particle of X (e.g. a
    :class:`fpgal.spectra.SmoothBrokenPowerLaw` with ``mass_GeV`` of X). The result lives on the same
    spatial grid with energies E_X,i (kinetic energy per particle of X at the proton grid's
    rigidities), carries ``mass_GeV`` of X and stays factorized if ``cr_p`` is.
    """
    sp = species_info(species)
    proton = SPECIES["H"]
    if abs(cr_p.mass_GeV - proton.mass_GeV) > 1e-6:
        raise ValueError(f"relabel_in_rigidity: cr_p.mass_GeV={cr_p.mass_GeV}; expected a proton solution "
                         f"({proton.mass_GeV} GeV)")
    _check_pure_diffusion(cr_p)
    E_p = np.asarray(cr_p.E_GeV, dtype=float)
    E_X = proton.same_rigidity_energy_GeV(E_p, sp)
    S = np.asarray(spectrum_ref_p(E_p), dtype=float)
    Q = np.asarray(spectrum_X(E_X), dtype=float)
    if np.any(~np.isfinite(S) | (S <= 0)):
        raise ValueError(f"relabel_in_rigidity: the reference spectrum is not positive at E_GeV = "
                         f"{E_p[~np.isfinite(S) | (S <= 0)].tolist()}")
    if np.any(~np.isfinite(Q) | (Q < 0)):
        raise ValueError(f"relabel_in_rigidity: spectrum_X is negative or not finite at E_GeV = "
                         f"{E_X[~np.isfinite(Q) | (Q < 0)].tolist()}")
    f = Q / S
    grid = cr_p.grid.with_energies(E_X)
    meta = dict(cr_p.meta, species=sp.symbol, relabelled_from="proton solution at equal rigidity")
    if cr_p.is_factorized:
        err = cr_p.spatial_error
        return CRDensity.factorized(grid, cr_p.spatial, cr_p.energy_factor * f, err, meta, sp.mass_GeV,
                                    comm=cr_p.comm)
    err = None if cr_p.error is None else cr_p.error * f[:, None, None, None]
    return CRDensity(grid, cr_p.density * f[:, None, None, None], err, meta, sp.mass_GeV, comm=cr_p.comm)


__all__ = ["relabel_in_rigidity"]
