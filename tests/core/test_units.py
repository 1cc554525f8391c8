"""Units against independently known values."""
import math

from fpgal import units


def test_parsec_definition():
    # IAU 2015 B2: 1 pc = 648000/pi au = 3.0856775814913673e18 cm
    assert math.isclose(units.pc_cm, 3.0856775814913673e18, rel_tol=1e-15)
    assert math.isclose(units.kpc_cm, 3.0856775814913673e21, rel_tol=1e-15)


def test_year_and_light_travel():
    # one light year in pc: 0.306601 pc (Julian year)
    ly_cm = units.c_cm_s * units.yr_s
    assert math.isclose(ly_cm / units.pc_cm, 0.30660139, rel_tol=1e-7)


def test_energy_and_cross_section():
    assert math.isclose(units.GeV_erg, 1.602176634e-3, rel_tol=1e-15)
    assert units.mb_cm2 == 1e-27
    assert math.isclose(units.m_p_GeV, 0.938272, rel_tol=1e-6)
    # proton rest energy from the mass in grams: m c^2 / (GeV in erg)
    assert math.isclose(units.m_p_g * units.c_cm_s ** 2 / units.GeV_erg, units.m_p_GeV, rel_tol=1e-9)


def test_conversion_helpers_roundtrip():
    assert math.isclose(units.cm_to_kpc(units.kpc_to_cm(8.5)), 8.5, rel_tol=1e-15)
