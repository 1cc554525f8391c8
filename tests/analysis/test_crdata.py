"""Loaders of the local proton flux tables (fpgal.analysis.crdata) against the tables themselves."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpgal import units
from fpgal.analysis import crdata

M = units.m_p_GeV
EXPECTED = {"AMS-02-2015", "AMS-02-2021", "CALET", "CREAM", "DAMPE-2019", "DAMPE-2025", "GRAPES-3",
            "ISS-CREAM", "IceTop_IceCube_SIBYLL-2.1", "LHAASO_EPOS-LHC", "LHAASO_QGSJET-II-04",
            "LHAASO_SIBYLL-2.3d", "NUCLEON", "PAMELA"}


def _raw(label):
    path = crdata.table_paths()[label]
    return np.loadtxt(path, comments="#")


def test_every_table_loads(data_dir):
    labels = crdata.list_experiments()
    assert EXPECTED <= set(labels)
    for label in labels:
        d = crdata.load_experiment(label)
        raw = _raw(label)
        assert d.n == raw.shape[0] > 0, label
        assert np.all(d.E_GeV > 0) and np.all(np.diff(d.E_GeV) > 0), label
        assert np.all(d.J > 0), label
        for k in ("stat_lo", "stat_hi", "sys_lo", "sys_hi"):
            assert np.all(getattr(d, k) >= 0), (label, k)
        assert d.x_quantity in crdata.X_QUANTITIES


def test_ams02_2015_named_columns_and_bin_edges():
    """10-column layout <R> Rlo Rup y ystat_lo ystat_up ysyst_lo ysyst_up tot_lo tot_up (rigidity)."""
    d = crdata.load_experiment("AMS-02-2015")
    raw = _raw("AMS-02-2015")
    assert raw.shape[1] == 10 and d.x_quantity == "rigidity"
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
    zero = d.stat_lo == 0
    assert zero.sum() >= 5
    np.testing.assert_array_equal(d.total_lo[zero], d.sys_lo[zero])
    assert np.all(d.sigma() > 0)


def test_total_energy_tables_subtract_the_rest_mass():
    d = crdata.load_experiment("GRAPES-3")
    raw = _raw("GRAPES-3")
    np.testing.assert_allclose(d.E_GeV, raw[:, 0] - M, rtol=1e-15)
    np.testing.assert_array_equal(d.J, raw[:, 1])


def test_flux_at_100_GeV_from_the_ams02_table_and_agreement_between_experiments():
    # by hand from the AMS-02 (2021) rows around E = 100 GeV (p = 100.9339 GV)
    raw = _raw("AMS-02-2021")
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
    assert ams.J_cm2[0] == pytest.approx(ams.J[0] * 1e-4, rel=1e-15)


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
    raw = _raw("AMS-02-2015")
    n_R = raw[:, 3] * (raw[:, 2] - raw[:, 1])
    n_E = d.J * (d.E_hi_GeV - d.E_lo_GeV)
    # bin-averaged vs point flux: agree to second order in the bin width (< 0.2 %)
    np.testing.assert_allclose(n_E / n_R, 1.0, atol=2e-3)
