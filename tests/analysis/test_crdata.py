"""Loaders of the local CR flux tables (fpgal.analysis.crdata), proton and helium, against the published numbers.

The published tables in their original layouts are in tests/data/published_sample; fpgal reads its own
packaged copies (fpgal/core/data/cosmic_rays, fpgal table format).
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from fpgal import units
from fpgal.analysis import crdata
from fpgal.data import FORMAT, TableFormatError, packaged_data_dir, read_header, read_table, write_table

M = units.m_p_GeV
M_HE = crdata.M_HE4_GeV
EXPECTED = {"AMS-02-2015", "AMS-02-2021", "CALET", "CREAM", "DAMPE-2019", "DAMPE-2025", "GRAPES-3",
            "ISS-CREAM", "IceTop_IceCube_SIBYLL-2.1", "LHAASO_EPOS-LHC", "LHAASO_QGSJET-II-04",
            "LHAASO_SIBYLL-2.3d", "NUCLEON", "PAMELA"}
EXPECTED_HE = {"AMS-02", "CALET", "CREAM", "DAMPE", "IceTop_IceCube_SIBYLL-2.1", "LHAASO_EPOS-LHC",
               "LHAASO_QGSJET-II-04", "LHAASO_SIBYLL-2.3d", "NUCLEON", "PAMELA"}
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "published_sample" / "cosmic_rays"


def _raw(name: str) -> np.ndarray:
    """A published table in its original layout (tests/data/published_sample/cosmic_rays)."""
    return np.loadtxt(SAMPLE / name, comments="#")


def test_every_table_loads():
    for species, expected in (("H", EXPECTED), ("He", EXPECTED_HE)):
        paths = crdata.table_paths(species=species)
        assert set(paths) == expected, species
        for label, path in paths.items():
            d = crdata.load_experiment(label, species=species)
            assert d.n == read_table(path).data.shape[0] > 0, label
            assert d.species == species == read_header(path)["species"], label
            assert np.all(d.E_GeV > 0) and np.all(np.diff(d.E_GeV) > 0), label
            assert np.all(d.J > 0), label
            for k in ("stat_lo", "stat_hi", "sys_lo", "sys_hi"):
                assert np.all(getattr(d, k) >= 0), (label, k)
            assert d.x_quantity in crdata.X_QUANTITIES
            assert d.reference, label


def test_proton_listing_holds_only_proton_tables():
    assert "AMS-02" not in crdata.list_experiments()                 # the He label does not leak into H
    assert "AMS-02-2021" not in crdata.list_experiments(species="He")
    assert all(d.species == "H" for d in crdata.load_experiments().values())
    with pytest.raises(ValueError, match=r"CR species 'Fe'; expected one of \['H', 'He'\]"):
        crdata.list_experiments(species="Fe")
    with pytest.raises(ValueError, match=r"unknown CR data set 'AMS-02-2021' \(He\)"):
        crdata.load_experiment("AMS-02-2021", species="He")


def test_ams02_2015_named_columns_and_bin_edges():
    """Published layout <R> Rlo Rup y ystat_lo ystat_up ysyst_lo ysyst_up tot_lo tot_up (rigidity)."""
    d = crdata.load_experiment("AMS-02-2015")
    raw = _raw("AMS-02-2015_H_rigidity.txt")
    assert raw.shape[1] == 10 and d.x_quantity == "rigidity"
    np.testing.assert_array_equal(d.x_raw, raw[:, 0])
    R, Rlo, y, stat, sys = raw[0, 0], raw[0, 1], raw[0, 3], raw[0, 4], raw[0, 6]
    E = math.sqrt(R * R + M * M) - M
    jac = (E + M) / R
    assert d.E_GeV[0] == pytest.approx(E, rel=1e-12)
    assert d.J[0] == pytest.approx(y * jac, rel=1e-12)
    assert d.stat_lo[0] == pytest.approx(stat * jac, rel=1e-12)
    assert d.sys_hi[0] == pytest.approx(sys * jac, rel=1e-12)
    assert d.E_lo_GeV[0] == pytest.approx(math.sqrt(Rlo ** 2 + M * M) - M, rel=1e-12)
    # the table's own total error column equals stat ⊕ sys
    np.testing.assert_allclose(d.total_lo / (raw[:, 8] * d.J / raw[:, 3]), 1.0, rtol=1e-5)


def test_dampe_2019_zero_statistical_errors_give_systematic_total():
    d = crdata.load_experiment("DAMPE-2019")
    raw = _raw("DAMPE-2019_H_kineticEnergy.txt")
    np.testing.assert_array_equal(d.E_GeV, raw[:, 0])                # kinetic energy: the published numbers
    np.testing.assert_array_equal(d.sys_hi, raw[:, 5])
    zero = d.stat_lo == 0
    assert zero.sum() >= 5
    np.testing.assert_array_equal(d.total_lo[zero], d.sys_lo[zero])
    assert np.all(d.sigma() > 0)


def test_total_energy_tables_subtract_the_rest_mass():
    d = crdata.load_experiment("GRAPES-3")
    raw = _raw("GRAPES-3_H_totalEnergy.txt")
    np.testing.assert_allclose(d.E_GeV, raw[:, 0] - M, rtol=1e-15)
    np.testing.assert_array_equal(d.J, raw[:, 1])


def test_flux_at_100_GeV_from_the_ams02_table_and_agreement_between_experiments():
    # by hand from the published AMS-02 (2021) rows around E = 100 GeV (p = 100.9339 GV)
    raw = _raw("AMS-02-2021_H_rigidity.txt")
    R, JR = raw[:, 0], raw[:, 1]
    E = np.sqrt(R ** 2 + M ** 2) - M
    JE = JR * (E + M) / R
    i = np.searchsorted(E, 100.0)
    t = math.log(100.0 / E[i - 1]) / math.log(E[i] / E[i - 1])
    J100 = math.exp((1 - t) * math.log(JE[i - 1]) + t * math.log(JE[i]))
    assert 0.03 < J100 < 0.06                     # ≈ 4.35e-2 GeV^-1 m^-2 s^-1 sr^-1
    ams = crdata.load_experiment("AMS-02-2021")
    assert ams.flux_at(100.0) == pytest.approx(J100, rel=1e-10)
    # independent experiments (rigidity and kinetic-energy tables) agree at 100 GeV within 10 %
    for other in ("AMS-02-2015", "PAMELA", "CALET", "DAMPE-2019", "DAMPE-2025"):
        assert crdata.load_experiment(other).flux_at(100.0) == pytest.approx(J100, rel=0.10), other
    assert ams.J_per_cm2[0] == pytest.approx(ams.J[0] * 1e-4, rel=1e-15)


def test_high_energy_tables_agree_where_they_overlap():
    """GRAPES-3 (total energy) vs DAMPE-2025 and LHAASO vs GRAPES-3 around 100–500 TeV: within 40 %."""
    grapes = crdata.load_experiment("GRAPES-3")
    assert grapes.flux_at(1.0e5) == pytest.approx(crdata.load_experiment("DAMPE-2025").flux_at(1.0e5), rel=0.4)
    assert crdata.load_experiment("LHAASO_QGSJET").flux_at(4.0e5) == pytest.approx(grapes.flux_at(4.0e5), rel=0.4)


def test_window_names_and_errors():
    sets = crdata.load_experiments(None, E_min_GeV=10.0, E_max_GeV=3.0e6)
    assert "IceTop_IceCube_SIBYLL-2.1" not in sets            # starts at 3.5 PeV
    for d in sets.values():
        assert d.E_GeV.min() >= 10.0 and d.E_GeV.max() <= 3.0e6
    assert crdata.resolve_experiment("IceTop_IceCube") == "IceTop_IceCube_SIBYLL-2.1"
    with pytest.raises(ValueError, match="ambiguous"):
        crdata.resolve_experiment("DAMPE")
    with pytest.raises(ValueError, match="unknown CR data set"):
        crdata.resolve_experiment("FERMI")
    with pytest.raises(ValueError, match="errors="):
        sets["CALET"].sigma("quadrature")


def test_default_config_experiments_resolve():
    from fpgal.config import FitConfig
    for name in FitConfig().experiments:
        crdata.resolve_experiment(name)


def test_asymmetric_error_models():
    d = crdata.load_experiment("CALET")
    lo, hi = d.total_lo, d.total_hi
    assert np.any(lo != hi)
    np.testing.assert_allclose(d.sigma("mean"), 0.5 * (lo + hi))
    np.testing.assert_allclose(d.sigma("side", model_J=d.J * 1.1), hi)
    np.testing.assert_allclose(d.sigma("side", model_J=d.J * 0.9), lo)


def test_converted_rigidity_flux_conserves_counts():
    """Σ J_R ΔR over AMS-02 2015 bins equals Σ J_E ΔE over the converted bins (bins narrow)."""
    d = crdata.load_experiment("AMS-02-2015")
    raw = _raw("AMS-02-2015_H_rigidity.txt")
    n_R = raw[:, 3] * (raw[:, 2] - raw[:, 1])
    n_E = d.J * (d.E_hi_GeV - d.E_lo_GeV)
    # bin-averaged vs point flux: agree to second order in the bin width (< 0.2 %)
    np.testing.assert_allclose(n_E / n_R, 1.0, atol=2e-3)


# ------------------------------------------------------------------------------------ helium


def test_helium_kinetic_energy_per_nucleon_conversion():
    """CREAM-III He in GeV/n: E = A E_n, J = J_n / A (A = 4), errors alike — from the published numbers."""
    d = crdata.load_experiment("CREAM", species="He")
    raw = _raw("CREAM_He_kineticEnergyPerNucleon.txt")
    assert d.x_quantity == "kineticEnergyPerNucleon" and d.mass_GeV == M_HE
    np.testing.assert_array_equal(d.x_raw, raw[:, 0])
    np.testing.assert_array_equal(d.E_GeV, 4.0 * raw[:, 0])
    np.testing.assert_array_equal(d.J, raw[:, 1] / 4.0)
    np.testing.assert_array_equal(d.stat_hi, raw[:, 3] / 4.0)
    np.testing.assert_array_equal(d.sys_lo, raw[:, 4] / 4.0)


def test_helium_rigidity_and_total_energy_conversions():
    """Z = 2, m_He = 3.7274 GeV: E = √((2R)² + m²) − m, J_E = J_R (E + m)/(2 p); E = E_tot − m."""
    assert M_HE == pytest.approx(3.7274, abs=5e-5)
    ams = crdata.load_experiment("AMS-02", species="He")
    raw = _raw("AMS-02_He_rigidity.txt")
    R, JR = raw[:, 0], raw[:, 1]
    p = 2.0 * R
    E = np.sqrt(p ** 2 + M_HE ** 2) - M_HE
    np.testing.assert_allclose(ams.E_GeV, E, rtol=1e-13)
    np.testing.assert_allclose(ams.J, JR * (E + M_HE) / (2.0 * p), rtol=1e-13)    # dR/dE = (E + m)/(Z p)
    np.testing.assert_allclose(ams.sys_hi, raw[:, 5] * (E + M_HE) / (2.0 * p), rtol=1e-13)
    # R = 2.031 GV: p = 4.062 GeV, E = √(4.062² + 3.7274²) − 3.7274 = 1.7856 GeV
    assert ams.E_GeV[0] == pytest.approx(1.7856, abs=1e-4)
    nucleon = crdata.load_experiment("NUCLEON", species="He")
    raw = _raw("NUCLEON_He_totalEnergy.txt")
    np.testing.assert_allclose(nucleon.E_GeV, raw[:, 0] - 3.7274, rtol=1e-7)
    np.testing.assert_array_equal(nucleon.J, raw[:, 1])


def test_to_kinetic_energy_per_nucleon_and_errors():
    E, J, jac = crdata.to_kinetic_energy([10.0, 100.0], [8.0, 0.4], "kineticEnergyPerNucleon", Z=2, mass_GeV=M_HE,
                                         A=4)
    np.testing.assert_array_equal(E, [40.0, 400.0])
    np.testing.assert_array_equal(J, [2.0, 0.1])
    np.testing.assert_array_equal(jac, [0.25, 0.25])
    with pytest.raises(ValueError, match="mass number A=0"):
        crdata.to_kinetic_energy([1.0], [1.0], "kineticEnergyPerNucleon", A=0)
    with pytest.raises(ValueError, match="abscissa quantity 'momentum'"):
        crdata.to_kinetic_energy([1.0], [1.0], "momentum")


def test_helium_experiments_agree_after_conversion():
    """Four abscissae (GV, GeV, GeV/n, total GeV) meet: He fluxes per unit kinetic energy agree within 20 %.

    A missing factor A (per nucleon) would put CREAM off by ~4^1.7 ≈ 10 at 10 TeV.
    """
    he = crdata.load_experiments(None, species="He")
    at_1TeV = [he[k].flux_at(1.0e3) for k in ("AMS-02", "PAMELA", "CALET", "DAMPE")]
    assert max(at_1TeV) / min(at_1TeV) < 1.2
    at_10TeV = [he[k].flux_at(1.0e4) for k in ("CALET", "DAMPE", "CREAM", "NUCLEON")]
    assert max(at_10TeV) / min(at_10TeV) < 1.2
    # He/H per unit kinetic energy per particle at 1 TeV ≈ 0.7–0.8 (DAMPE)
    ratio = he["DAMPE"].flux_at(1.0e3) / crdata.load_experiment("DAMPE-2025").flux_at(1.0e3)
    assert 0.5 < ratio < 1.0


# ------------------------------------------------------------------------------------ user tables


def _user_table(folder: Path, **meta_changes) -> Path:
    meta = dict(format=FORMAT, dataset="MyBalloon-2030", experiment="MyBalloon", reference="me (2030)",
                species="H", quantity="flux", quantity_units="GeV^-1 m^-2 s^-1 sr^-1", abscissa="totalEnergy",
                abscissa_units="GeV", columns="x flux stat_lo stat_hi sys_lo sys_hi", source="my own",
                comment="test table")
    meta.update(meta_changes)
    rows = [[1.0e3, 2.0e-5, 1e-7, 1e-7, 1e-6, 1e-6], [1.0e4, 5.0e-8, 1e-9, 1e-9, 3e-9, 3e-9]]
    return write_table(folder / "cosmic_rays" / "MyBalloon-2030_H.txt", meta, rows)


def test_user_table_in_an_override_folder(monkeypatch, tmp_path):
    """docs/data.md recipe: copy the shipped tables, add one, point FPGAL_DATA (or data_dir) at the copy."""
    data = tmp_path / "data"
    shutil.copytree(Path(str(packaged_data_dir())), data, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    _user_table(data)
    monkeypatch.setenv("FPGAL_DATA", str(data))
    assert set(crdata.list_experiments()) == EXPECTED | {"MyBalloon-2030"}
    d = crdata.load_experiment("MyBalloon")
    np.testing.assert_allclose(d.E_GeV, [1.0e3 - M, 1.0e4 - M], rtol=1e-15)
    np.testing.assert_array_equal(d.J, [2.0e-5, 5.0e-8])
    assert d.reference == "me (2030)"
    monkeypatch.delenv("FPGAL_DATA")
    assert "MyBalloon-2030" not in crdata.list_experiments()
    assert "MyBalloon-2030" in crdata.list_experiments(data_dir=data)


@pytest.mark.parametrize("changes,message", [
    (dict(abscissa_units="TeV"), "abscissa_units 'TeV'; expected 'GeV' for abscissa 'totalEnergy'"),
    (dict(quantity_units="GeV^-1 cm^-2 s^-1 sr^-1"), r"quantity_units .*; expected 'GeV\^-1 m\^-2 s\^-1 sr\^-1'"),
    (dict(abscissa="energy"), "abscissa 'energy'; expected one of"),
    (dict(species="C"), "CR species 'C'"),
    (dict(columns="x flux stat_lo stat_hi sys_lo sys"), r"lack \['sys_hi'\] / have unknown \['sys'\]"),
])
def test_bad_user_tables_are_named(tmp_path, changes, message):
    path = _user_table(tmp_path, **changes)
    with pytest.raises(TableFormatError, match=message):
        crdata.read_table(path)


def test_duplicate_data_set_labels_are_an_error(tmp_path):
    first = _user_table(tmp_path)
    shutil.copy(first, tmp_path / "cosmic_rays" / "copy.txt")
    with pytest.raises(TableFormatError, match=r"'MyBalloon-2030' \(H\) is also defined"):
        crdata.list_experiments(data_dir=tmp_path)
