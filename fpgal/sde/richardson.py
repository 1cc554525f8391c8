"""Richardson extrapolation of two SDE results to zero step, and the step bias of the finer one.

Euler–Maruyama with the Brownian-bridge escape correction is weak order 1 in the time step:
n(dτ) = n₀ + a dτ + O(dτ²) for every smooth functional (cell residence, mean escape time;
Talay & Tubaro 1990, Stoch. Anal. Appl. 8, 483; Gobet 2000 for the killed process). Two runs at
dτ ("fine") and 2dτ ("coarse") give

    n₀ ≈ 2 n(dτ) − n(2dτ),      bias of the fine run  n(dτ) − n₀ ≈ n(2dτ) − n(dτ),

cell by cell. The two runs use independent random numbers, so a cell-by-cell extrapolation has
the statistical error σ₀ = √(4 σ_f² + σ_c²) (σ_f, σ_c the batch errors of the two runs): 2.2 × the
fine run's at 1.5 × its cost. By default (``extrapolate=False``) the result therefore keeps the fine
run's density and errors and carries the Richardson estimate where the statistics are good — two
integral quantities: the mean residence time at the reference energy and the density in a sphere
of ``SUN_RADIUS_KPC`` around the Sun — each as fine, coarse and extrapolated value and as the fine
run's relative step bias (n_c − n_f)/n₀ ± 1σ, plus ``step_bias_bound_rel`` = the largest |bias| + 2σ:
a 95 % bound on the fine density's relative step bias, which :func:`fpgal.analysis.compare.compare`
adds to the error budget (as a 2σ systematic). ``extrapolate=True`` returns 2 n_f − n_c in every cell
(remaining bias O(dτ²)) with the error σ₀ — what a comparison of large-area integrals (sky windows,
columns) wants.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import units
from ..result import CRDensity

#: radius of the sphere around the Sun whose density is reported with the step bias [kpc]
SUN_RADIUS_KPC = 0.5


def _combine(fine: CRDensity, coarse: CRDensity):
    """(spatial or density, its error, energy factor or None) of 2 fine − coarse."""
    if fine.is_factorized and coarse.is_factorized:
        ff, fc = fine.energy_factor, coarse.energy_factor
        i = int(np.argmax(np.abs(ff)))
        ratio = fc / fc[i] * ff[i]          # same energy shape: coarse factor = r · fine factor
        if np.allclose(ratio, ff, rtol=1e-12, atol=0.0):
            r = float(fc[i] / ff[i])
            s = 2.0 * fine.spatial - r * coarse.spatial
            e = _quad_error(2.0 * _or0(fine.spatial_error), abs(r) * _or0(coarse.spatial_error))
            return s, e, ff
    d = 2.0 * fine.density - coarse.density
    e = _quad_error(2.0 * _or0(fine.error), _or0(coarse.error))
    return d, e, None


def _or0(a):
    return 0.0 if a is None else a


def _quad_error(a, b):
    return np.sqrt(np.asarray(a, dtype=float) ** 2 + np.asarray(b, dtype=float) ** 2)


def sun_density(cr: CRDensity, E_GeV: float, radius_kpc: float = SUN_RADIUS_KPC) -> tuple[float, float]:
    """(density, conservative 1σ error) in the sphere around the Sun at the grid energy nearest E_GeV
    (GeV⁻¹ cm⁻³); (nan, nan) if the Sun is off the grid."""
    sun = np.asarray(units.sun_position_kpc, dtype=float)
    if not cr.grid.contains(sun[None])[0]:
        return math.nan, math.nan
    iE = int(np.argmin(np.abs(np.log(cr.E_GeV / E_GeV))))
    n = float(cr.local_spectrum(sun, radius_kpc)[iE])
    err = float(CRDensity(cr.grid, cr.error).local_spectrum(sun, radius_kpc)[iE]) if cr.error is not None else 0.0
    return n, err


def _bias(fine: float, fine_err: float, coarse: float, coarse_err: float) -> dict:
    """Extrapolated value, its error, and the fine run's relative bias (n_c − n_f)/n₀ with its error."""
    n0 = 2.0 * fine - coarse
    n0_err = math.hypot(2.0 * fine_err, coarse_err)
    rel = (coarse - fine) / n0 if n0 else math.nan
    rel_err = math.hypot(fine_err, coarse_err) / abs(n0) if n0 else math.nan
    return dict(fine=fine, coarse=coarse, extrapolated=n0, extrapolated_err=n0_err, bias_rel=rel,
                bias_rel_err=rel_err)


def step_bias_meta(fine: CRDensity, coarse: CRDensity) -> dict:
    """Step-bias numbers of the pair (flat, for the HDF5 attributes)."""
    meta = {}
    E_ref = float(fine.meta.get("E_ref_GeV", 1000.0))
    quantities = {"sun": (*sun_density(fine, E_ref), *sun_density(coarse, E_ref))}
    if "mean_residence_Myr" in fine.meta and "mean_residence_Myr" in coarse.meta:
        quantities["residence"] = (fine.meta["mean_residence_Myr"], fine.meta.get("mean_residence_Myr_err", 0.0),
                                   coarse.meta["mean_residence_Myr"], coarse.meta.get("mean_residence_Myr_err", 0.0))
    bounds = []
    for name, values in quantities.items():
        if not all(math.isfinite(v) for v in values):
            continue
        b = _bias(*values)
        unit = "Myr" if name == "residence" else "GeV^-1 cm^-3"
        meta.update({f"{name}_fine": b["fine"], f"{name}_coarse": b["coarse"], f"{name}_extrapolated": b["extrapolated"],
                     f"{name}_extrapolated_err": b["extrapolated_err"], f"{name}_unit": unit,
                     f"step_bias_rel_{name}": b["bias_rel"], f"step_bias_rel_{name}_err": b["bias_rel_err"]})
        bounds.append(abs(b["bias_rel"]) + 2.0 * b["bias_rel_err"])
    meta["step_bias_bound_rel"] = max(bounds) if bounds else math.nan
    meta["sun_radius_kpc"] = SUN_RADIUS_KPC
    return meta


def richardson(fine: CRDensity, coarse: CRDensity, extrapolate: bool = False) -> CRDensity:
    """The fine result with the step bias of the pair in ``meta``, or (``extrapolate``) n₀ = 2 n(dτ) − n(2dτ)
    with error √(4σ_f² + σ_c²) in every cell (module docstring).

    ``fine`` and ``coarse`` are two SDE results on the same grid whose time steps differ by a factor 2
    (``meta['dtau_kpc2']``); the result keeps the fine run's metadata plus ``richardson_extrapolated``,
    ``rms_step_coarse_kpc``, the wall times and particle-steps of both and :func:`step_bias_meta`.
    """
    if not fine.grid.same_space(coarse.grid) or not np.allclose(fine.E_GeV, coarse.E_GeV, rtol=1e-12):
        raise ValueError(f"richardson: the two results live on different grids: {fine.grid!r} vs {coarse.grid!r}")
    dt_f, dt_c = float(fine.meta.get("dtau_kpc2", math.nan)), float(coarse.meta.get("dtau_kpc2", math.nan))
    if not (math.isfinite(dt_f) and math.isfinite(dt_c) and abs(dt_c / dt_f - 2.0) < 1e-9):
        raise ValueError(f"richardson: the coarse step must be twice the fine one; got dtau_kpc2 = {dt_f!r} (fine) "
                         f"and {dt_c!r} (coarse)")
    meta = dict(fine.meta)
    meta.update(richardson_extrapolated=bool(extrapolate), richardson_pair=True, rms_step_coarse_kpc=float(coarse.meta.get("rms_step_kpc", math.nan)),
                wall_time_s=float(fine.meta.get("wall_time_s", 0.0)) + float(coarse.meta.get("wall_time_s", 0.0)),
                wall_time_fine_s=float(fine.meta.get("wall_time_s", 0.0)),
                particle_steps=int(fine.meta.get("particle_steps", 0)) + int(coarse.meta.get("particle_steps", 0)),
                simulation_cpu_s=float(fine.meta.get("simulation_cpu_s", 0.0)) + float(coarse.meta.get("simulation_cpu_s", 0.0)),
                seed_coarse=str(coarse.meta.get("seed", "")),
                fraction_not_absorbed=max(float(fine.meta.get("fraction_not_absorbed", 0.0)),
                                          float(coarse.meta.get("fraction_not_absorbed", 0.0))))
    meta.update(step_bias_meta(fine, coarse))
    comm = fine.comm
    if not extrapolate:
        if fine.is_factorized:
            return CRDensity.factorized(fine.grid, fine.spatial, fine.energy_factor, fine.spatial_error, meta,
                                        fine.mass_GeV, comm=comm)
        return CRDensity(fine.grid, fine.density, fine.error, meta, fine.mass_GeV, comm=comm)
    if "residence_extrapolated" in meta:
        meta["mean_residence_Myr"] = meta["residence_extrapolated"]
        meta["mean_residence_Myr_err"] = meta["residence_extrapolated_err"]
    values, error, factor = _combine(fine, coarse)
    if factor is not None:
        return CRDensity.factorized(fine.grid, values, factor, error, meta, fine.mass_GeV, comm=comm)
    return CRDensity(fine.grid, values, error, meta, fine.mass_GeV, comm=comm)
