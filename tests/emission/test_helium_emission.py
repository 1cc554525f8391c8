"""CR helium emission: He–H / He–He emissivity against scipy quad over aafragpy, and the per-species maps."""
from __future__ import annotations

import aafragpy
import numpy as np
import pytest
from scipy.integrate import quad

import fpgal
import fpgal.relabel
from fpgal import units
from fpgal.emission import emissivity
from fpgal.emission.cross_sections import MASS_GeV
from fpgal.emission.gas import Uniform
from fpgal.emission.maps import skymap
from fpgal.emission.nuclei import helium_emissivity, species_skymaps
from fpgal.species import SPECIES

from emission_testlib import E_CR_GEV

M_HE = MASS_GeV["He"]
# helium energies at the rigidities of the proton grid (what the re-labelling produces)
E_HE = SPECIES["H"].same_rigidity_energy_GeV(E_CR_GEV, SPECIES["He"])


def n_he(T):
    return 1.0e-10 * (np.asarray(T) / 20.0) ** -2.6


def _integrand(lnT, E_s, channel, secondary):
    T = np.exp(lnT)
    cs, _, _ = aafragpy.get_cross_section(secondary, channel, np.array([T + M_HE]), np.array([E_s]),
                                          outside_bounds="zeros")
    beta = np.sqrt(1.0 - 1.0 / (1.0 + T / M_HE) ** 2)
    return units.c_cm_s * beta * n_he(T) * float(np.ravel(cs)[0]) * units.mb_cm2 * T


def _quad(E_s, channel, secondary):
    Ep, _, _ = aafragpy.open_data_files(secondary, channel)
    nodes = np.log(np.asarray(Ep) / 1e9 - M_HE)
    lo, hi = np.log(E_HE[0]), np.log(E_HE[-1])
    br = np.unique(np.concatenate([[lo, hi], nodes[(nodes > lo) & (nodes < hi)]]))
    return sum(quad(_integrand, a, b, args=(E_s, channel, secondary), limit=100, epsrel=1e-7)[0]
               for a, b in zip(br[:-1], br[1:]))


def _helium(E=E_HE):
    g = fpgal.Grid((-1, 1, 1), (-1, 1, 1), (-1, 1, 1), E)
    return fpgal.CRDensity(g, n_he(E)[:, None, None, None].copy(), mass_GeV=SPECIES["He"].mass_GeV)


@pytest.mark.parametrize("E_s,particle", [(1.0e3, "gamma"), (1.0e5, "gamma"), (3.0e4, "neutrino")])
def test_helium_hydrogen_emissivity_matches_quad_over_aafrag(E_s, particle):
    sec = {"gamma": "gam", "neutrino": "nu_all"}[particle]
    q = helium_emissivity(_helium(), [E_s], particle=particle, helium_fraction=0.0)[0, 0, 0, 0]
    ref = _quad(E_s, "He-p", sec)
    assert q == pytest.approx(ref, rel=5e-3)
    # with gas helium: + f_He × He–He
    q2 = helium_emissivity(_helium(), [E_s], particle=particle, helium_fraction=0.1)[0, 0, 0, 0]
    assert q2 == pytest.approx(ref + 0.1 * _quad(E_s, "He-He", sec), rel=5e-3)


def test_species_maps_add_up_and_match_the_joint_emissivity():
    E = np.array([1.0e3, 1.0e5])
    g = fpgal.Grid((-12.0, 4.0, 8), (-6.0, 6.0, 6), (-2.0, 2.0, 4), E_CR_GEV)
    shape = np.exp(-0.1 * np.linalg.norm(g.cell_centers_kpc(), axis=-1))
    cr_p = fpgal.CRDensity.factorized(g, shape, 1e-9 * (E_CR_GEV / 10) ** -2.7)
    cr_he = fpgal.relabel.relabel_in_rigidity(cr_p, lambda e: (e / 10) ** -2.7, lambda e: 0.08 * (e / 20) ** -2.6)
    dirs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.6, 0.52915026], [-1.0, 0.0, 0.0]])
    gas = Uniform(1.0)
    maps = species_skymaps(cr_p, cr_he, gas, E, nside=1, directions=dirs, sun_kpc=(-8.5, 0, 0))
    np.testing.assert_allclose(maps["total"], maps["p"] + maps["He"], rtol=1e-14)
    # the full-emissivity path (q given: one LOS component per energy) against the two-field separable one
    q_joint = emissivity(cr_p, E, cr_helium=cr_he)
    joint = skymap(cr_p, gas, E, 1, sun_kpc=(-8.5, 0, 0), q=q_joint, directions=dirs)
    assert np.allclose(skymap(cr_p, gas, E, 1, sun_kpc=(-8.5, 0, 0), cr_helium=cr_he, directions=dirs), joint,
                       rtol=1e-10)
    np.testing.assert_allclose(maps["total"], joint, rtol=1e-10)
    p_only = skymap(cr_p, gas, E, 1, sun_kpc=(-8.5, 0, 0), q=emissivity(cr_p, E), directions=dirs)
    np.testing.assert_allclose(maps["p"], p_only, rtol=1e-10)
    assert np.all(maps["He"] > 0.05 * maps["p"])
    # a general (expanded) proton density takes the per-energy path and gives the same maps
    general = fpgal.CRDensity(g, np.array(cr_p.density))
    gm = species_skymaps(general, cr_he, gas, E, nside=1, directions=dirs, sun_kpc=(-8.5, 0, 0))
    np.testing.assert_allclose(gm["p"], maps["p"], rtol=1e-10)
    # without helium: p only, total = p
    solo = species_skymaps(cr_p, None, gas, E, nside=1, directions=dirs)
    assert set(solo) == {"p", "total"}


def test_factorized_density_gives_the_same_emissivity_as_the_expanded_one():
    """apply_to's shortcut for n = f(E) G(x) (incl. cells with G ≤ 0) equals the per-cell product."""
    from fpgal.emission.emissivity import apply_to
    g = fpgal.Grid((-2.0, 2.0, 4), (-2.0, 2.0, 3), (-1.0, 1.0, 2), E_HE)
    G = np.linspace(-0.2, 1.0, 24).reshape(g.shape)
    cr = fpgal.CRDensity.factorized(g, G, n_he(E_HE), mass_GeV=SPECIES["He"].mass_GeV)
    general = fpgal.CRDensity(g, np.array(cr.density), mass_GeV=cr.mass_GeV)
    from fpgal.emission.emissivity import production_matrix
    pm = production_matrix([1e3, 1e5], E_HE, cr.mass_GeV, "He")
    np.testing.assert_allclose(apply_to(pm, cr, "He"), pm.apply(general.density), rtol=1e-12, atol=0)
