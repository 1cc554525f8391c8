"""Map products: windows, regional spectra, band integrals, ratio maps, FITS/HDF5 round trips, data."""
from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from fpgal.emission import products as P
from fpgal.emission.skydata import load_fermi_ackermann2012, load_lhaaso_km2a


def test_window_solid_angle():
    nside = 128
    for name, w in P.WINDOWS.items():
        frac = P.window_mask(name, nside).mean()
        dl = (w.l_max - w.l_min) % 360
        exact = np.radians(dl) * (np.sin(np.radians(w.b_max)) - np.sin(np.radians(w.b_min))) / (4 * np.pi)
        assert frac == pytest.approx(exact, rel=0.03), name


def test_window_wraps_through_l0():
    w = P.SkyWindow(350.0, 10.0, -90.0, 90.0)
    assert w.contains(np.array([355.0, 5.0, 20.0, 340.0]), np.zeros(4)).tolist() == [True, True, False, False]


def test_regional_spectrum_is_solid_angle_average():
    nside = 32
    l, b = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    maps = np.stack([np.full(l.size, 2.0), 1.0 + (l > 70)])            # step in longitude
    spec = P.regional_spectrum(maps, "lhaaso_inner")
    assert spec[0] == pytest.approx(2.0)
    assert spec[1] == pytest.approx(1.0 + 55.0 / 110.0, rel=0.02)     # 70..125 of 15..125 has value 2
    excl = np.zeros(l.size, bool)
    excl[(l > 70)] = True
    assert P.regional_spectrum(maps, "lhaaso_inner", exclude=excl)[1] == pytest.approx(1.0)


def test_band_integral_and_interpolation_of_power_law():
    E = np.geomspace(100.0, 1e5, 7)
    maps = (E[:, None] ** -2.6) * np.array([[1.0, 3.0]])
    got = P.band_integral(maps, E, 300.0, 3e4)
    exact = (3e4 ** -1.6 - 300.0 ** -1.6) / -1.6 * np.array([1.0, 3.0])
    np.testing.assert_allclose(got, exact, rtol=1e-10)
    np.testing.assert_allclose(P.maps_at(maps, E, [250.0])[0], 250.0 ** -2.6 * np.array([1, 3]), rtol=1e-12)
    with pytest.raises(ValueError, match="band"):
        P.band_integral(maps, E, 10.0, 1e3)


def test_ratio_and_difference():
    a, b = np.array([2.0, 1.0, 1.0]), np.array([1.0, 2.0, 0.0])
    r = P.ratio_map(a, b)
    assert r[:2].tolist() == [2.0, 0.5] and np.isnan(r[2])
    assert P.relative_difference(a, b)[:2].tolist() == [1.0, -0.5]


def test_fits_round_trip(tmp_path):
    nside = 8
    E = np.array([1e3, 1e4, 1e5])
    maps = np.random.default_rng(0).random((3, hp.nside2npix(nside))) * 1e-10
    (path,) = P.save_fits(tmp_path / "m.fits", maps, E)
    for i in range(3):
        np.testing.assert_array_equal(hp.read_map(path, field=i), maps[i])
    np.testing.assert_allclose(P.read_fits_energies(path), E)
    _, hdr = hp.read_map(path, field=0, h=True)
    hdr = dict(hdr)
    assert hdr["COORDSYS"] == "G" and hdr["ORDERING"] == "RING" and hdr["TUNIT1"] == P.INTENSITY_UNITS
    files = P.save_fits(tmp_path / "per.fits", maps, E, per_energy=True)
    assert len(files) == 3
    np.testing.assert_array_equal(hp.read_map(files[2]), maps[2])


def test_h5_round_trip(tmp_path):
    maps = np.arange(2 * 48, dtype=float).reshape(2, 48)
    path = P.save_h5(tmp_path / "m.h5", maps, [1e3, 2e3], attrs={"particle": "gamma", "observer_kpc": [-8.5, 0, 0]})
    m, E, attrs = P.load_h5(path)
    np.testing.assert_array_equal(m, maps)
    assert E.tolist() == [1e3, 2e3] and attrs["particle"] == "gamma" and attrs["intensity_nside"] == 2
    assert attrs["intensity_units"] == P.INTENSITY_UNITS
    assert not list(tmp_path.glob("*.partial"))


def test_data_loaders_convert_units():
    inner = load_lhaaso_km2a("inner")
    assert inner.E_GeV[0] == pytest.approx(12.6e3)
    assert inner.I[0] == pytest.approx(6.61e-13 * 1e-3)                # TeV^-1 → GeV^-1
    assert inner.I_lo[0] == pytest.approx(np.hypot(0.64e-13, 0.77e-13) * 1e-3)
    assert load_lhaaso_km2a("outer").E_GeV.size == 5
    fermi = load_fermi_ackermann2012()
    assert fermi.E_GeV[0] == pytest.approx(0.238109)                   # MeV → GeV
    assert fermi.E2I[0] == pytest.approx(3.18865e-2 * 1e-3)            # MeV cm^-2 s^-1 sr^-1 → GeV ...
    with pytest.raises(ValueError, match="region 'middle'"):
        load_lhaaso_km2a("middle")
