"""fpgal.emission.SkyMap: the maps with their energies, nside, particle and units; writes and reads itself."""
from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from fpgal.emission import SkyMap, gas as G, regional_spectrum, skymap
from fpgal.emission.sky import pixel_directions, ray_box_interval

from emission_testlib import uniform_cr


def test_skymap_object_carries_its_axes_and_round_trips(tmp_path):
    cr, obs, E = uniform_cr(), (-8.5, 0.3, 0.1), [1e3, 1e5]
    sky = SkyMap.compute(cr, G.Uniform(0.8), E, nside=8, sun_kpc=obs)
    np.testing.assert_allclose(sky.intensity, skymap(cr, G.Uniform(0.8), E, nside=8, sun_kpc=obs), rtol=1e-12)
    assert sky.nside == 8 and sky.particle == "gamma" and sky.units == "GeV^-1 cm^-2 s^-1 sr^-1"
    assert sky.meta["observer_kpc"] == list(obs) and sum(sky.meta["timings_s"].values()) > 0
    # uniform CRs and gas: the intensity along a ray is proportional to its path length in the box
    _, L = ray_box_interval(obs, pixel_directions(8), cr.grid.lower_kpc, cr.grid.upper_kpc)
    np.testing.assert_allclose(sky.intensity[0] / L, np.median(sky.intensity[0] / L), rtol=0.02)
    np.testing.assert_allclose(sky.window_spectrum("lhaaso_inner"), regional_spectrum(sky.intensity, "lhaaso_inner"))
    # log-log interpolation between the two energies of a power law is exact
    mid = np.sqrt(1e3 * 1e5)
    slope = np.log(sky.intensity[1] / sky.intensity[0]) / np.log(100.0)
    np.testing.assert_allclose(sky.at(mid)[0], sky.intensity[0] * 10.0 ** slope, rtol=1e-10)
    back = SkyMap.load(sky.save(tmp_path / "sky.h5"))
    np.testing.assert_array_equal(back.intensity, sky.intensity)
    np.testing.assert_array_equal(back.E_GeV, sky.E_GeV)
    assert back.particle == "gamma" and back.nside == 8
    fits = sky.save(tmp_path / "sky.fits")
    np.testing.assert_allclose(hp.read_map(fits, field=1), sky.intensity[1], rtol=1e-12)


def test_bad_skymaps_name_the_problem():
    with pytest.raises(ValueError, match="2 maps but 3 energies"):
        SkyMap(np.ones((2, 12)), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="13 pixels"):
        SkyMap(np.ones((1, 13)), [1.0])
    with pytest.raises(ValueError, match="'photon'"):
        SkyMap(np.ones((1, 12)), [1.0], particle="photon")
    with pytest.raises(ValueError, match=r"\.fits or \.h5"):
        SkyMap(np.ones((1, 12)), [1.0]).save("sky.png")
