"""Line-of-sight integration: analytic boxes and disks, step and nside convergence, absorption."""
from __future__ import annotations

import aafragpy
import numpy as np
import pytest
from scipy.special import erf

import fpgal
from fpgal import units
from fpgal.emission import column_density, gas as G, regional_spectrum, skymap
from fpgal.emission.absorption import cmb_attenuation_length_kpc
from fpgal.emission.cross_sections import MASS_GeV
from fpgal.emission.sky import lb_to_vec, pixel_directions, ray_box_interval

from emission_testlib import power_law, uniform_cr

KPC_CM_4PI = units.kpc_cm / (4 * np.pi)


def _independent_q(E_gamma: float, f_He: float) -> float:
    """q per H nucleus straight from aafragpy on a very fine log grid (200 per decade)."""
    T = np.geomspace(10.0, 1e7, 1201)
    sig = 0.0
    for ch, f in (("p-p", 1.0), ("p-He", f_He)):
        cs, _, _ = aafragpy.get_cross_section("gam", ch, T + MASS_GeV["p"], np.array([E_gamma]), outside_bounds="zeros")
        sig = sig + f * cs[:, 0]
    beta = np.sqrt(1 - 1 / (1 + T / units.m_p_GeV) ** 2)
    return np.trapezoid(units.c_cm_s * beta * power_law(T) * sig * units.mb_cm2 * T, np.log(T))


def test_uniform_box_equals_emissivity_times_path(cr_obs=(-8.5, 0.3, 0.1)):
    """I = n_H q L / 4π in every direction (uniform CRs and gas, observer inside the box): 1 %."""
    cr = uniform_cr()
    E = [1e3, 1e5]
    n_H, f_He = 0.8, 0.1
    m = skymap(cr, G.Uniform(n_H), E, nside=8, sun_kpc=cr_obs, helium_fraction=f_He)
    _, L = ray_box_interval(cr_obs, pixel_directions(8), cr.grid.lower_kpc, cr.grid.upper_kpc)
    for k, e in enumerate(E):
        expected = n_H * _independent_q(e, f_He) * L * KPC_CM_4PI
        np.testing.assert_allclose(m[k], expected, rtol=1e-2)


def test_column_density_gaussian_disk_and_exponential_disk():
    """N_H toward b = 90° and b = 30° vs the analytic column (box top at z = 4 kpc)."""
    lo, hi = np.array([-20.0, -20.0, -4.0]), np.array([20.0, 20.0, 4.0])
    sun = (-8.5, 0.0, 0.0)
    dirs = lb_to_vec([0.0, 0.0, 120.0], [90.0, 30.0, -30.0])
    ns = G.NakanishiSofue(H2=False)
    R = 8.5
    h, n0 = ns.HI_scaleheight_kpc(R), ns.HI_planedensity_cm3(R)
    a = np.sqrt(np.log(2.0)) / h                                     # 0.5^((z/h)^2) = exp(-(a z)^2)
    N90 = n0 * np.sqrt(np.pi) / (2 * a) * erf(a * 4.0) * units.kpc_cm
    got = column_density(ns, dirs[:1], sun, lo, hi, step_kpc=0.125)
    assert got[0] == pytest.approx(N90, rel=1e-3)
    H, n1 = 0.3, 2.0
    expo = lambda x: n1 * np.exp(-np.abs(x[:, 2]) / H)                # noqa: E731
    got = column_density(expo, dirs, sun, lo, hi, step_kpc=0.05)
    N = n1 * H * (1 - np.exp(-4.0 / H)) * units.kpc_cm
    np.testing.assert_allclose(got, [N, N / 0.5, N / 0.5], rtol=3e-3)


def _gaussian_cr(dx=1.0):
    E = np.geomspace(10, 1e6, 21)
    g = fpgal.Grid((-16, 16, int(32 / dx)), (-16, 16, int(32 / dx)), (-4, 4, int(8 / dx)), E)
    c = g.cell_centers_kpc()
    prof = np.exp(-(c[..., 0] ** 2 + c[..., 1] ** 2) / (2 * 6.0 ** 2) - c[..., 2] ** 2 / 2.0)
    return fpgal.CRDensity(g, power_law(E)[:, None, None, None] * prof[None])


def test_step_size_convergence():
    """Default sampling (step = cell/2, vertical dz = 50 pc) is within 1 % of a 16x finer one, and the
    horizontal step converges at second order (trapezoid over a trilinear field)."""
    cr = _gaussian_cr()                       # 1 kpc cells
    gas = G.NakanishiSofue()
    dirs = pixel_directions(8)
    ref = skymap(cr, gas, [1e3], 8, directions=dirs, step_kpc=0.03125, dz_kpc=0.005, helium_fraction=0.0)[0]
    err = {}
    for s in (1.0, 0.5, 0.25):
        m = skymap(cr, gas, [1e3], 8, directions=dirs, step_kpc=s, dz_kpc=0.025, helium_fraction=0.0)[0]
        err[s] = np.max(np.abs(m / ref - 1))
    default = skymap(cr, gas, [1e3], 8, directions=dirs, helium_fraction=0.0)[0]
    err_default = np.max(np.abs(default / ref - 1))
    no_dz = skymap(cr, gas, [1e3], 8, directions=dirs, dz_kpc=None, helium_fraction=0.0)[0]
    err_no_dz = np.max(np.abs(no_dz / ref - 1))
    print(f"LOS step convergence, max rel. diff.: {err}; default {err_default:.2e}; without dz {err_no_dz:.2e}")
    assert err_default < 1e-2
    assert err_no_dz > 3 * err_default          # the thin H2 disk needs the vertical refinement
    assert err[0.5] / err[0.25] > 3.0 and err[1.0] / err[0.5] > 3.0


def test_nside_convergence_of_window_average():
    """LHAASO inner-window average converges with nside (pixel-centre sampling)."""
    cr = _gaussian_cr()
    gas = G.NakanishiSofue()
    spec = {n: regional_spectrum(skymap(cr, gas, [1e3], n, helium_fraction=0.0), "lhaaso_inner")[0]
            for n in (8, 16, 32, 64)}
    d = {n: abs(spec[n] / spec[64] - 1) for n in (8, 16, 32)}
    print("nside convergence of the LHAASO-inner average (rel. diff. to nside 64):", d)
    assert d[32] < 0.02 and d[16] < 0.05


def test_cmb_absorption_in_uniform_box():
    """With absorption, I = n q λ (1 − e^{−L/λ}) / 4π (uniform medium)."""
    cr = uniform_cr()
    E = [2e6]
    obs = (-8.5, 0.0, 0.0)
    m0 = skymap(cr, G.Uniform(1.0), E, nside=4, sun_kpc=obs, helium_fraction=0.0)
    m1 = skymap(cr, G.Uniform(1.0), E, nside=4, sun_kpc=obs, helium_fraction=0.0, absorption=True)
    _, L = ray_box_interval(obs, pixel_directions(4), cr.grid.lower_kpc, cr.grid.upper_kpc)
    lam = cmb_attenuation_length_kpc(E)[0]
    np.testing.assert_allclose(m1[0] / m0[0], lam / L * (1 - np.exp(-L / lam)), rtol=1e-3)
    with pytest.raises(ValueError, match="gamma rays only"):
        skymap(cr, G.Uniform(1.0), E, nside=4, particle="neutrino", absorption=True)


def test_bad_inputs():
    cr = uniform_cr()
    with pytest.raises(ValueError, match="nside=12"):
        skymap(cr, G.Uniform(1.0), [1e3], nside=12)
    with pytest.raises(ValueError, match="sun_kpc"):
        skymap(cr, G.Uniform(1.0), [1e3], nside=4, sun_kpc=(1.0, 2.0))
    with pytest.raises(ValueError, match="particle='photon'"):
        skymap(cr, G.Uniform(1.0), [1e3], nside=4, particle="photon")
