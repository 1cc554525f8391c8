"""Injection spectra (fpgal.spectra): kinematics, eq. 2 of Dörner et al. (ICRC2025), registry."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpgal import spectra, units
from fpgal.spectra import PowerLaw, SmoothBrokenPowerLaw

M = units.m_p_GeV


# ------------------------------------------------------------------ kinematics (hand-computed numbers)
@pytest.mark.parametrize("R_GV, E_GeV, jac", [
    # E = sqrt(R^2 + m^2) - m and (E+m)/p, evaluated with 30-digit decimals, m = 0.93827208816 GeV
    (1.0, 0.432988102839552, 1.371260190999552),
    (10.0, 9.105649183505769, 1.004392127166577),
    (100.0, 99.06612958752336, 1.000044016756834),
])
def test_rigidity_to_kinetic_energy_hand_values(R_GV, E_GeV, jac):
    E = spectra.rigidity_to_kinetic_GeV(R_GV)
    assert E == pytest.approx(E_GeV, rel=1e-13)
    assert spectra.dR_dE(E) == pytest.approx(jac, rel=1e-12)
    assert spectra.beta(E) == pytest.approx(1.0 / jac, rel=1e-12)


def test_momentum_of_100_GeV_proton():
    assert spectra.momentum_GeV(100.0) == pytest.approx(100.93391113809075, rel=1e-13)
    assert spectra.dp_dE(100.0) == pytest.approx(1.000043205995092, rel=1e-12)


def test_energy_rigidity_round_trip_over_twelve_decades():
    E = np.geomspace(1e-3, 1e9, 61)
    back = spectra.rigidity_to_kinetic_GeV(spectra.kinetic_to_rigidity_GV(E))
    np.testing.assert_allclose(back, E, rtol=1e-12)
    # a helium nucleus (Z = 2): p = 2 R
    assert spectra.kinetic_to_rigidity_GV(10.0, Z=2, mass_GeV=3.7274) == pytest.approx(
        math.sqrt(10.0 * (10.0 + 2 * 3.7274)) / 2, rel=1e-14)


def test_flux_jacobian_conserves_particle_number():
    """∫ J_R dR over [1, 10] GV equals ∫ J_E dE over the matching kinetic-energy interval."""
    R1, R2 = 1.0, 10.0
    R = np.geomspace(R1, R2, 20001)
    J_R = R ** -2.7
    n_R = np.trapezoid(J_R, R)
    E = np.geomspace(spectra.rigidity_to_kinetic_GeV(R1), spectra.rigidity_to_kinetic_GeV(R2), 20001)
    J_E = spectra.kinetic_to_rigidity_GV(E) ** -2.7 * spectra.dR_dE(E)
    n_E = np.trapezoid(J_E, E)
    analytic = (R1 ** -1.7 - R2 ** -1.7) / 1.7
    assert n_R == pytest.approx(analytic, rel=1e-6)
    assert n_E == pytest.approx(analytic, rel=1e-6)


# ------------------------------------------------------------------ eq. 2
def _slope(f, x, h=1e-4):
    return (math.log(f(x * math.exp(h))) - math.log(f(x * math.exp(-h)))) / (2 * h)


def test_smooth_broken_power_law_asymptotic_indices_and_break_value():
    s = SmoothBrokenPowerLaw(Q0=3.0, p_br_GeV=500.0, alpha1=-2.4, alpha2=-2.1, w=0.1)
    assert _slope(s.of_momentum, 500.0 / 1e3) == pytest.approx(-2.4, abs=1e-6)
    assert _slope(s.of_momentum, 500.0 * 1e3) == pytest.approx(-2.1, abs=1e-6)
    # Q(p_br) = Q0 2^((α2−α1) w)
    assert s.of_momentum(500.0) == pytest.approx(3.0 * 2 ** (0.3 * 0.1), rel=1e-13)
    # mid-slope at the break: α1 + (α2−α1)/2
    assert _slope(s.of_momentum, 500.0) == pytest.approx(-2.25, abs=1e-6)


def test_smooth_broken_power_law_per_kinetic_energy_jacobian():
    s = SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=5.0, alpha1=-2.3, alpha2=-2.0, w=0.5)
    E = 1.0
    p = math.sqrt(E * (E + 2 * M))
    x = p / 5.0
    Qp = x ** -2.3 * (1 + x ** 2.0) ** (0.3 * 0.5)
    assert s(E) == pytest.approx(Qp * (E + M) / p, rel=1e-13)
    # number conservation: ∫Q_E dE over [E1, E2] = ∫Q(p) dp over [p(E1), p(E2)]
    Eg = np.geomspace(0.1, 100.0, 40001)
    pg = np.geomspace(spectra.momentum_GeV(0.1), spectra.momentum_GeV(100.0), 40001)
    assert np.trapezoid(s(Eg), Eg) == pytest.approx(np.trapezoid(s.of_momentum(pg), pg), rel=1e-7)


def test_equal_indices_reduce_to_power_law():
    s = SmoothBrokenPowerLaw(Q0=2.0, p_br_GeV=300.0, alpha1=-2.2, alpha2=-2.2, w=0.3)
    pl = PowerLaw(Q0=2.0, alpha=-2.2, x0_GeV=300.0)
    E = np.geomspace(1.0, 1e7, 30)
    np.testing.assert_allclose(s(E), pl(E), rtol=1e-13)
    pe = PowerLaw(Q0=2.0, alpha=-2.2, x0_GeV=300.0, variable="kinetic_energy")
    np.testing.assert_allclose(pe(E), 2.0 * (E / 300.0) ** -2.2, rtol=1e-14)


def test_cutoff_and_knee():
    base = SmoothBrokenPowerLaw(p_br_GeV=500.0, alpha1=-2.4, alpha2=-2.1, w=0.1)
    cut = base.replace(E_cut_GeV=3e6)
    E = np.array([1e3, 1e6, 3e6, 1e7])
    np.testing.assert_allclose(cut(E) / base(E), np.exp(-E / 3e6), rtol=1e-12)
    knee = base.replace(p_knee_GeV=4e6, alpha3=-3.2, w_knee=0.05)
    assert _slope(knee.of_momentum, 4e9) == pytest.approx(-3.2, abs=1e-6)
    assert _slope(knee.of_momentum, 4e4) == pytest.approx(-2.1, abs=1e-6)


def test_no_overflow_for_sharp_breaks():
    s = SmoothBrokenPowerLaw(p_br_GeV=1.0, alpha1=-2.0, alpha2=-3.0, w=1e-3)
    v = s(np.array([1e-2, 1e6, 1e9]))
    assert np.all(np.isfinite(v)) and np.all(v > 0)
    # sharp break: Q(p) = p^-3 above p_br (Q0 = 1, p_br = 1)
    assert s.of_momentum(1e6) == pytest.approx(1e-18, rel=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha1=2.35), "alpha1=-2.35"),
    (dict(alpha2=2.1), "did you mean alpha2"),
    (dict(w=0.0), "w=0.0"),
    (dict(p_br_GeV=-1.0), "p_br_GeV"),
    (dict(Q0=float("nan")), "Q0"),
])
def test_bad_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SmoothBrokenPowerLaw(**kwargs)


def test_registry_and_config_round_trip():
    from fpgal.config import SpectrumConfig
    s = spectra.spectrum_from_config(SpectrumConfig())
    assert isinstance(s, SmoothBrokenPowerLaw)
    assert (s.p_br_GeV, s.alpha1, s.alpha2, s.w, s.E_cut_GeV) == (500.0, -2.35, -2.1, 0.1, 0.0)
    again = spectra.spectrum_from_dict(s.replace(alpha1=-2.5).to_dict())
    assert again == s.replace(alpha1=-2.5)
    assert isinstance(spectra.spectrum_from_name("power-law", alpha=-2.7), PowerLaw)
    with pytest.raises(ValueError, match="unknown spectrum type"):
        spectra.spectrum_from_name("lognormal")
    with pytest.raises(ValueError, match="unknown parameter"):
        spectra.spectrum_from_name("sbpl", gamma=2)


def test_intensity_per_density_is_beta_c_over_4pi():
    # J = β c n / 4π: at 1 GeV kinetic energy a proton has β = √(1 − (m/(E+m))²)
    from fpgal import units
    from fpgal.spectra import intensity_per_density
    m = units.m_p_GeV
    beta = np.sqrt(1.0 - (m / (1.0 + m)) ** 2)
    assert intensity_per_density(1.0) == pytest.approx(beta * 2.99792458e10 / (4 * np.pi), rel=1e-14)
    assert intensity_per_density(1e6) == pytest.approx(2.99792458e10 / (4 * np.pi), rel=1e-9)
