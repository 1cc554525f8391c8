"""Helium fit on the proton solution re-labelled in rigidity: synthetic He data with known parameters.

The proton density is built by hand, n_p(E, x) = S_ref(E) G(E) with a known analytic G, so the helium
model flux is computed independently of the code's re-labelling and spline:
J_He(E) = β_He c/4π Q_He(E) G(E_p(R(E))), modulated with Φ = Z φ (Z = 2).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fpgal
from fpgal import units
from fpgal.analysis.crdata import CRData
from fpgal.analysis.fit import initial_spectrum, knee_comparison, species_basis, species_window
from fpgal.species import SPECIES
from fpgal.spectra import SmoothBrokenPowerLaw

HE, P = SPECIES["He"], SPECIES["H"]
SUN = (-8.5, 0.0, 0.0)
PHI_GV = 0.6
REF = SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=300.0, alpha1=-2.3, alpha2=-2.0, w=0.2)
TRUE = SmoothBrokenPowerLaw(Q0=4.0e-4, p_br_GeV=1400.0, alpha1=-2.38, alpha2=-2.12, w=0.25, mass_GeV=HE.mass_GeV)
TRUE_KNEE = TRUE.replace(p_knee_GeV=7.0e6, alpha3=-3.1, w_knee=0.1)
FREE = ("Q0", "p_br_GeV", "alpha1", "alpha2", "w")


def G_p(E):
    E = np.asarray(E, dtype=float)
    return 4.0e-9 * (E / 10.0) ** -0.33 * (1.0 + (E / 3.0e4) ** 0.8) ** (-0.2)


def J_he_m2(E, spectrum):
    """Force-field modulated He flux [GeV⁻¹ m⁻² s⁻¹ sr⁻¹] from the analytic G at equal rigidity."""
    m, Phi = HE.mass_GeV, HE.Z * PHI_GV
    Es = E + Phi
    beta = np.sqrt(Es * (Es + 2 * m)) / (Es + m)
    E_p = P.kinetic_from_rigidity_GeV(np.sqrt(Es * (Es + 2 * m)) / 2.0)
    J_lis = beta * units.c_cm_s / (4 * math.pi) * spectrum(Es) * G_p(E_p) * 1e4
    return J_lis * E * (E + 2 * m) / (Es * (Es + 2 * m))


def make_cr():
    grid = fpgal.Grid((-9.5, -7.5, 4), (-1.0, 1.0, 4), (-1.0, 1.0, 4), E_GeV=np.geomspace(10.0, 1.0e7, 25))
    dens = (REF(grid.E_GeV) * G_p(grid.E_GeV))[:, None, None, None] * np.ones((1,) + grid.shape)
    return fpgal.CRDensity(grid, dens)


def synthetic(rng, spectrum, E_max, rel=0.02, n=(40, 40)):
    sets = []
    for k, (lo, hi) in enumerate(((25.0, 3.0e3), (3.0e3, E_max))):
        E = np.geomspace(lo, hi, n[k])
        J = J_he_m2(E, spectrum)
        s = rel * J
        z, nan = np.zeros_like(E), np.full_like(E, np.nan)
        sets.append(CRData(f"synthetic-He-{k}", E, J + s * rng.standard_normal(E.size), z, z, s, s, nan, nan,
                           "kineticEnergy", E, mass_GeV=HE.mass_GeV, species="He"))
    return sets


def test_helium_basis_is_the_proton_one_at_equal_rigidity():
    basis = species_basis(make_cr(), REF, "He", SUN, 0.1)
    assert basis.Z == 2 and basis.mass_GeV == HE.mass_GeV
    E = np.geomspace(30.0, 1.5e7, 57)
    np.testing.assert_allclose(basis(E), G_p(HE.same_rigidity_energy_GeV(E, P)), rtol=3e-4)
    lo, hi = species_window(10.0, 1.0e7, "He")
    assert lo == pytest.approx(basis.E_GeV[0], rel=1e-12) and hi == pytest.approx(basis.E_GeV[-1], rel=1e-12)


def test_helium_fit_recovers_injected_parameters(rng):
    basis = species_basis(make_cr(), REF, "He", SUN, 0.1)
    data = synthetic(rng, TRUE, 3.0e6)
    fits = knee_comparison(basis, data, initial_spectrum("He"), free=FREE, E_min_GeV=20.0, E_max_GeV=1.8e7,
                           phi_GV=PHI_GV)
    fit = fits["no_knee"]
    assert fit.success and fit.dof == 80 - 5
    assert abs(fit.chi2_per_dof - 1.0) < 3 * math.sqrt(2.0 / fit.dof)
    for p in FREE:
        assert abs(fit.values[p] - getattr(TRUE, p)) < 3 * fit.errors[p], (p, fit.values[p], fit.errors[p])
    assert fit.to_dict()["R_br_GV"] == pytest.approx(fit.values["p_br_GeV"] / 2)
    # without a knee in the data the knee fit gains nothing significant
    assert fits["knee"].chi2 > fit.chi2 - 12.0


def test_knee_fit_recovers_the_knee_and_lowers_chi2(rng):
    basis = species_basis(make_cr(), REF, "He", SUN, 0.1)
    data = synthetic(rng, TRUE_KNEE, 1.8e7, rel=0.03)
    fits = knee_comparison(basis, data, initial_spectrum("He"), free=FREE, E_min_GeV=20.0, E_max_GeV=1.8e7,
                           phi_GV=PHI_GV)
    kn, plain = fits["knee"], fits["no_knee"]
    assert kn.dof == plain.dof - 2
    for p in ("p_knee_GeV", "alpha3", "alpha2", "alpha1"):
        assert abs(kn.values[p] - getattr(TRUE_KNEE, p)) < 3 * kn.errors[p], (p, kn.values[p], kn.errors[p])
    assert kn.chi2_per_dof < 1.5 < 3 * kn.chi2_per_dof < plain.chi2_per_dof


def test_model_band_matches_linear_error_propagation(rng):
    basis = species_basis(make_cr(), REF, "He", SUN, 0.1)
    fit = knee_comparison(basis, synthetic(rng, TRUE, 3.0e6), initial_spectrum("He"), free=("Q0", "alpha1", "alpha2"),
                          E_min_GeV=20.0, E_max_GeV=1.8e7, phi_GV=PHI_GV)["no_knee"]
    E = np.array([50.0, 1.0e3, 1.0e5])
    lo, hi = fit.model_band(E, n_samples=4000)
    # linear propagation: σ_J² = g Σ gᵀ, g = ∂J/∂(ln Q0, α1, α2) by central differences
    x0 = np.array([math.log(fit.values["Q0"]), fit.values["alpha1"], fit.values["alpha2"]])

    def J(x):
        return fit.basis.flux_cm2(fit.spectrum.replace(Q0=math.exp(x[0]), alpha1=x[1], alpha2=x[2]), E, PHI_GV) * 1e4
    g = np.array([(J(x0 + d) - J(x0 - d)) / 2e-5 for d in 1e-5 * np.eye(3)]).T
    sigma = np.sqrt(np.einsum("ij,jk,ik->i", g, fit.covariance, g))
    np.testing.assert_allclose(0.5 * (hi - lo), sigma, rtol=0.1)
    assert np.all((lo < fit.model_flux(E)) & (fit.model_flux(E) < hi))
