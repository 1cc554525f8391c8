"""Gamma-ray and neutrino reference spectra (fpgal.emission.skydata) against the published numbers.

The published files in their original layouts are in tests/data/published_sample; fpgal reads its own
packaged copies (fpgal/core/data/gamma_rays, fpgal/core/data/neutrinos) whose headers state the units.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fpgal.data import FORMAT, TableFormatError, write_table
from fpgal.emission import skydata as D

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "published_sample"


def _raw(rel: str) -> np.ndarray:
    return np.loadtxt(SAMPLE / rel, comments="#", ndmin=2)


@pytest.mark.parametrize("region,rel", [("inner", "gamma_rays/LHAASO_KM2A_2023_TableS2_inner.txt"),
                                        ("outer", "gamma_rays/LHAASO_KM2A_2023_TableS3_outer.txt")])
def test_lhaaso_equals_the_published_table(region, rel):
    """E [TeV] → GeV, φ [TeV⁻¹ cm⁻² s⁻¹ sr⁻¹] → GeV⁻¹, errors stat ⊕ sys: the doubles of the paper's table."""
    raw = _raw(rel)
    g = D.load_lhaaso_km2a(region)
    np.testing.assert_array_equal(g.E_GeV, raw[:, 2] * 1.0e3)
    np.testing.assert_array_equal(g.I, raw[:, 3] * 1.0e-3)
    np.testing.assert_array_equal(g.I_lo, np.hypot(raw[:, 4], raw[:, 6]) * 1.0e-3)
    np.testing.assert_array_equal(g.I_hi, np.hypot(raw[:, 5], raw[:, 6]) * 1.0e-3)
    assert g.label == f"LHAASO-KM2A ({region})" and g.region == region


def test_fermi_equals_the_published_figure_values():
    """E [MeV] → GeV, E² I band [MeV cm⁻² s⁻¹ sr⁻¹] → GeV units: central value, distances to the band edges."""
    raw = _raw("gamma_rays/Ackermann2012_diffuse_Fig17.txt")
    g = D.load_fermi_ackermann2012()
    E = raw[:, 0] * 1.0e-3
    e2i = raw[:, 1:4] * 1.0e-3
    np.testing.assert_array_equal(g.E_GeV, E)
    np.testing.assert_array_equal(g.I, e2i[:, 1] / E ** 2)
    np.testing.assert_array_equal(g.I_lo, (e2i[:, 1] - e2i[:, 0]) / E ** 2)
    np.testing.assert_array_equal(g.I_hi, (e2i[:, 2] - e2i[:, 1]) / E ** 2)
    assert g.E2I[0] == pytest.approx(3.18865e-5, rel=1e-12)


@pytest.mark.parametrize("model,best,minus,plus", [("kra5", 0.55, 0.15, 0.18), ("kra50", 0.37, 0.11, 0.13)])
def test_icecube_galactic_plane(model, best, minus, plus):
    raw = _raw(f"neutrinos/IceCube2023_nus_gp_{model}.txt")
    nu = D.load_icecube_galactic_plane(model)
    np.testing.assert_array_equal(nu.E_GeV, raw[:, 0])
    np.testing.assert_array_equal(nu.E2F, raw[:, 1])
    # errors of the template normalisation: relative −minus/best, +plus/best (6 digits in the table)
    np.testing.assert_allclose(nu.E2F_lo / nu.E2F, minus / best, rtol=1e-5)
    np.testing.assert_allclose(nu.E2F_hi / nu.E2F, plus / best, rtol=1e-5)
    np.testing.assert_allclose(nu.E2F_all_flavour, 3.0 * raw[:, 1], rtol=1e-15)
    np.testing.assert_allclose(nu.mean_E2I, raw[:, 1] / (4.0 * math.pi), rtol=1e-15)
    assert nu.E_GeV[0] == pytest.approx(1.0e3, rel=0.15) and np.all(np.diff(nu.E_GeV) > 0)
    assert "PeV cutoff" in nu.label


def test_icecube_models_differ_and_bad_names():
    kra5, kra50 = D.load_icecube_galactic_plane("kra5"), D.load_icecube_galactic_plane("kra50")
    assert kra5.E2F[0] > kra50.E2F[0]               # the 5 PeV template carries the larger normalisation at 1 TeV
    with pytest.raises(ValueError, match="model 'kra500'.*'kra5', 'kra50'"):
        D.load_icecube_galactic_plane("kra500")
    with pytest.raises(ValueError, match="LHAASO region 'middle'"):
        D.load_lhaaso_km2a("middle")


def test_unit_factors():
    assert D.quantity_factor("TeV^-1 cm^-2 s^-1 sr^-1", "{E}^-1 cm^-2 s^-1 sr^-1", -1) == 1.0e-3
    assert D.quantity_factor("MeV cm^-2 s^-1 sr^-1", "{E} cm^-2 s^-1 sr^-1", 1) == 1.0e-3
    assert D.quantity_factor("PeV cm^-2 s^-1", "{E} cm^-2 s^-1", 1) == 1.0e6
    with pytest.raises(TableFormatError, match="quantity_units 'TeV\\^-1 m\\^-2 s\\^-1 sr\\^-1'; expected"):
        D.quantity_factor("TeV^-1 m^-2 s^-1 sr^-1", "{E}^-1 cm^-2 s^-1 sr^-1", -1, "t.txt")
    with pytest.raises(TableFormatError, match="energy unit 'keV'"):
        D.energy_factor("keV", "t.txt")


def _gamma_meta(**changes):
    meta = dict(format=FORMAT, dataset="MyTelescope-inner", experiment="MyTelescope", reference="me (2030)",
                species="gamma", quantity="intensity", quantity_units="GeV^-1 cm^-2 s^-1 sr^-1", abscissa="energy",
                abscissa_units="GeV", columns="E I stat_lo stat_hi sys", source="my own", comment="test")
    meta.update(changes)
    return meta


def test_user_gamma_table_in_gev(tmp_path):
    path = write_table(tmp_path / "t.txt", _gamma_meta(), [[1.0e4, 2.0e-12, 3.0e-13, 4.0e-13, 0.0]])
    g = D.read_gamma_table(path)
    assert g.label == "MyTelescope-inner"
    np.testing.assert_array_equal(g.E_GeV, [1.0e4])
    np.testing.assert_array_equal(g.I, [2.0e-12])
    np.testing.assert_array_equal([g.I_lo[0], g.I_hi[0]], [3.0e-13, 4.0e-13])
    bad = write_table(tmp_path / "b.txt", _gamma_meta(species="nu"), [[1.0, 1.0, 0.0, 0.0, 0.0]])
    with pytest.raises(TableFormatError, match="species 'nu'; expected 'gamma'"):
        D.read_gamma_table(bad)
    bad = write_table(tmp_path / "c.txt", _gamma_meta(columns="E I stat_lo stat_hi sys_lo"), [[1.0, 1.0, 0, 0, 0]])
    with pytest.raises(TableFormatError, match=r"lacks the columns \['sys'\]"):
        D.read_gamma_table(bad)
