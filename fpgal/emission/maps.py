"""All-sky maps of hadronic gamma rays / neutrinos from a CR density, a gas model and a cross section.

    I(E, l, b) = 1/(4π) ∫_0^{s_out} ds  n_H(x) q_eff(E, x) e^{−τ(E, s)}        [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹]

with x = x_obs + s d(l, b), n_H the gas hydrogen-nucleus density (evaluated exactly at every
sample), q_eff the emissivity per H nucleus (:func:`fpgal.emission.emissivity.emissivity`, incl.
helium as ``f_He``), trilinearly interpolated from the CR grid, τ = s/λ_CMB(E) when CMB absorption
is on (photons only), and the integral running to where the ray leaves the CR grid.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..core import units
from ..core.checks import renamed_keywords
from ..core.log import get_logger
from ..result import CRDensity
from .absorption import cmb_attenuation_length_kpc
from .emissivity import check_energies, emissivity
from .los import los_integral
from .sky import check_nside, pixel_directions

log = get_logger(__name__)


def default_step_kpc(cr: CRDensity) -> float:
    """Half the smallest cell size of the CR grid."""
    return 0.5 * float(np.min(cr.grid.spacing_kpc))


@renamed_keywords(observer_kpc="sun_kpc")
def skymap(cr: CRDensity, gas: Callable[[np.ndarray], np.ndarray], E_gamma_GeV, nside: int,
           sun_kpc=units.sun_position_kpc, cross_section: str = "aafrag", particle: str = "gamma",
           helium_fraction: float = 0.1, cr_helium: CRDensity | None = None, absorption: bool = False,
           step_kpc: float | None = None, dz_kpc: float | None = 0.05, n_sub: int = 8, directions: np.ndarray | None = None,
           q: np.ndarray | None = None, timings: dict | None = None) -> np.ndarray:
    """HEALPix (RING, Galactic) maps of the secondary intensity, shape (nE, npix).

    Parameters
    ----------
    cr : CR proton density (``fpgal.CRDensity``; a hand-made one is fine).
    gas : callable (N, 3) kpc → hydrogen-nucleus density n_H [cm⁻³], e.g. ``gas.NakanishiSofue()``;
        NaN/inf or negative densities raise ValueError naming the model and the first bad point.
    E_gamma_GeV : energies of the maps [GeV].
    nside : HEALPix resolution (power of two).
    sun_kpc : the observer, the Sun, (3,) kpc (default :data:`fpgal.units.sun_position_kpc`;
        ``observer_kpc=`` is its deprecated old name).
    cross_section : 'aafrag' (default), 'kafexhiu' or 'kamae' (see :mod:`.cross_sections`).
    particle : 'gamma' or 'neutrino' (all flavours, ν + ν̄).
    helium_fraction : n_He / n_H of the gas (pHe channel), default 0.1.
    cr_helium : optional CR helium density (adds He–H and He–He).
    absorption : multiply by e^{−s/λ_CMB(E)} (γγ pair production on the CMB; photons only).
    step_kpc : LOS step (default: half the smallest CR cell).
    dz_kpc : vertical resolution of the LOS sampling (default 0.05 kpc, about the H2 scale height
        near the Sun): a ray's step is min(step_kpc, dz_kpc/|sin b|). None switches it off.
    n_sub : sub-division of each CR energy interval for the E_p quadrature.
    directions : optional (n, 3) unit vectors instead of the HEALPix pixels (then nside is ignored
        and the result has shape (nE, n)).
    q : optional precomputed emissivity per H nucleus (nE, nx, ny, nz) from :func:`emissivity`
        (must be finite). A CR density with NaN/inf values raises ValueError (energy and point named);
        negative CR densities are allowed (kept, reported in the log, not clipped).
    timings : optional dict that receives the wall time of each stage [s].
    """
    E, obs, step = _checked_skymap_inputs(cr, gas, E_gamma_GeV, particle, absorption, sun_kpc, step_kpc)
    timings = {} if timings is None else timings

    if q is None and not absorption:
        maps, q = _separable_skymap(cr, gas, E, nside, obs, cross_section, particle, helium_fraction, cr_helium,
                                    step, dz_kpc, n_sub, directions, timings)
        if maps is not None:
            return maps
    if q is None:
        t0 = time.perf_counter()
        q = emissivity(cr, E, cross_section=cross_section, particle=particle, helium_fraction=helium_fraction,
                       cr_helium=cr_helium, n_sub=n_sub, timings=timings)
        timings["emissivity_total_s"] = time.perf_counter() - t0
    return _emissivity_skymap(cr, gas, E, nside, obs, np.asarray(q, dtype=float), absorption, step, dz_kpc,
                              directions, timings)


def _checked_skymap_inputs(cr, gas, E_gamma_GeV, particle: str, absorption: bool, sun_kpc,
                           step_kpc) -> tuple[np.ndarray, np.ndarray, float]:
    """(E [GeV], observer (3,) kpc, LOS step kpc) of :func:`skymap`, or TypeError / ValueError naming the
    bad argument and what was expected."""
    E = check_energies(E_gamma_GeV)
    if not isinstance(cr, CRDensity):
        raise TypeError(f"cr={cr!r}: expected an fpgal.CRDensity of CR protons")
    if not callable(gas):
        raise TypeError(f"gas={gas!r} is not callable (xyz_kpc (N, 3) -> n_H in cm^-3), e.g. gas.NakanishiSofue()")
    if particle not in ("gamma", "neutrino"):
        raise ValueError(f"particle={particle!r}: expected 'gamma' or 'neutrino'")
    if absorption and particle != "gamma":
        raise ValueError("absorption=True applies to gamma rays only (neutrinos are not absorbed)")
    obs = np.asarray(sun_kpc, dtype=float)
    if obs.shape != (3,) or not np.all(np.isfinite(obs)):
        raise ValueError(f"sun_kpc={sun_kpc!r} (the observer): expected three finite coordinates in kpc")
    step = default_step_kpc(cr) if step_kpc is None else float(step_kpc)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step_kpc={step_kpc!r}: expected a finite positive LOS step in kpc")
    return E, obs, step


def _emissivity_skymap(cr: CRDensity, gas, E: np.ndarray, nside: int, obs: np.ndarray, q: np.ndarray,
                       absorption: bool, step: float, dz_kpc, directions, timings: dict) -> np.ndarray:
    """I = 1/(4π) ∫ ds n_H q e^{−s/λ} from the emissivity per H nucleus ``q`` (nE, nx, ny, nz) on the CR grid,
    (nE, n_directions) in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹; ValueError if ``q`` does not have that shape."""
    if q.shape != (E.size,) + cr.grid.shape:
        raise ValueError(f"q has shape {q.shape}, expected (nE, nx, ny, nz) = {(E.size,) + cr.grid.shape}")
    t0 = time.perf_counter()
    dirs = pixel_directions(check_nside(nside)) if directions is None else np.asarray(directions, dtype=float)
    lam = cmb_attenuation_length_kpc(E) if absorption else None
    field = np.ascontiguousarray(np.moveaxis(q, 0, -1))
    g = cr.grid
    integral = los_integral(dirs, obs, g.lower_kpc, g.upper_kpc, step, density=gas, field=field,
                            attenuation_kpc=lam, dz_kpc=dz_kpc)
    timings["los_s"] = time.perf_counter() - t0
    log.info("skymap: %d directions x %d energies, step %.3g kpc, LOS %.1f s", len(dirs), E.size, step,
             timings["los_s"])
    # [cm^-3] [GeV^-1 s^-1] [kpc] → × kpc_cm / 4π sr
    return integral * (units.kpc_cm / (4.0 * np.pi))


def _separable_skymap(cr, gas, E, nside, obs, cross_section, particle, helium_fraction, cr_helium, step, dz_kpc,
                      n_sub, directions, timings) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(maps, None) from the LOS of the few spatial fields of factorized densities (q = Σ_k c_k(E) F_k(x), and
    the LOS integral is linear in q), or (None, q) with the full emissivity when that saves nothing."""
    from .nuclei import species_emissivities, stacked_skymaps
    t0 = time.perf_counter()
    blocks = species_emissivities(cr, cr_helium, E, cross_section, particle, helium_fraction, n_sub)
    timings["emissivity_total_s"] = time.perf_counter() - t0
    if sum(c.shape[1] for c, _ in blocks.values()) >= E.size:
        return None, sum(np.tensordot(c, f, axes=1) for c, f in blocks.values())
    t0 = time.perf_counter()
    maps = stacked_skymaps(cr, gas, blocks, nside, obs, directions, step_kpc=step, dz_kpc=dz_kpc)
    timings["los_s"] = time.perf_counter() - t0
    return sum(maps.values()), None


@renamed_keywords(observer_kpc="sun_kpc")
def column_density(gas: Callable[[np.ndarray], np.ndarray], directions: np.ndarray, sun_kpc,
                   lower_kpc, upper_kpc, step_kpc: float) -> np.ndarray:
    """Hydrogen column density N_H = ∫ n_H ds [cm⁻²] along directions (n, 3) from the observer at
    ``sun_kpc`` (old name ``observer_kpc``), inside the box."""
    return los_integral(directions, sun_kpc, lower_kpc, upper_kpc, step_kpc, density=gas)[0] * units.kpc_cm
