"""Sky-direction convention: l = 0 → +x (Galactic Centre), l = 90° → +y (rotation), b = 90° → +z."""
from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

import fpgal
from fpgal.emission import skymap
from fpgal.emission.sky import lb_to_vec, pixel_directions, ray_box_interval, vec_to_lb


def test_lb_vectors():
    np.testing.assert_allclose(lb_to_vec([0, 90, 180, 270, 0], [0, 0, 0, 0, 90]),
                               [[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1]], atol=1e-15)
    l, b = vec_to_lb(lb_to_vec([10.0, 200.0, 359.0], [-30.0, 45.0, 5.0]))
    np.testing.assert_allclose(l, [10, 200, 359])
    np.testing.assert_allclose(b, [-30, 45, 5])


def test_right_handed_and_rotation_sense():
    x, y, z = lb_to_vec([0, 90, 0], [0, 0, 90])
    np.testing.assert_allclose(np.cross(x, y), z, atol=1e-15)        # right-handed, z to the NGP
    # the Galaxy rotates clockwise seen from the NGP: at the Sun (-R, 0, 0) the velocity is +y = l 90°
    sun = np.array([-8.5, 0.0, 0.0])
    omega = np.array([0.0, 0.0, -1.0])                                # clockwise about +z
    v = np.cross(omega, sun)
    np.testing.assert_allclose(v / np.linalg.norm(v), y, atol=1e-15)


def test_pixel_directions_are_healpy_galactic_vectors():
    nside = 8
    d = pixel_directions(nside)
    l, b = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    np.testing.assert_allclose(d, lb_to_vec(l, b), atol=1e-12)


def test_ray_box_interval():
    s_in, s_out = ray_box_interval([-8.5, 0, 0], lb_to_vec([0, 180, 90, 0], [0, 0, 0, 90]),
                                   [-20, -20, -4], [20, 20, 4])
    np.testing.assert_allclose(s_in, 0.0)
    np.testing.assert_allclose(s_out, [28.5, 11.5, 20.0, 4.0])
    s_in, s_out = ray_box_interval([-30, 0, 0], lb_to_vec([0, 180], [0, 0]), [-20, -20, -4], [20, 20, 4])
    np.testing.assert_allclose([s_in[0], s_out[0]], [10.0, 50.0])    # observer outside: enters at 10 kpc
    assert s_out[1] <= s_in[1]                                         # pointing away: misses the box


@pytest.mark.parametrize("blob_kpc, l_deg, b_deg", [((-8.5, 2.0, 0.0), 90.0, 0.0), ((-8.5, -2.0, 0.0), 270.0, 0.0),
                                                    ((-6.5, 0.0, 0.0), 0.0, 0.0), ((-8.5, 0.0, 1.5), None, 90.0)])
def test_gas_blob_appears_where_expected(blob_kpc, l_deg, b_deg):
    """A compact gas cloud placed beside the Sun lights up the pixel in its direction."""
    E = np.geomspace(10, 1e5, 9)
    g = fpgal.Grid((-12, -5, 14), (-3.5, 3.5, 14), (-2, 2, 8), E)
    cr = fpgal.CRDensity(g, np.ones((E.size,) + g.shape) * 1e-9 * (E / 10)[:, None, None, None] ** -2.7)
    c = np.asarray(blob_kpc)
    cloud = lambda x: 100.0 * np.exp(-np.sum((x - c) ** 2, axis=1) / (2 * 0.3 ** 2))   # noqa: E731
    m = skymap(cr, cloud, [100.0], nside=16, helium_fraction=0.0)[0]
    lmax, bmax = hp.pix2ang(16, int(np.argmax(m)), lonlat=True)
    assert bmax == pytest.approx(b_deg, abs=3.0)
    if l_deg is not None:
        assert (lmax - l_deg + 180) % 360 - 180 == pytest.approx(0.0, abs=3.0)
