"""One naming rule for every registry: case-insensitive, '_' = '-' (registration and lookup alike)."""
import numpy as np
import pytest

from fpgal import sources, spectra
from fpgal.emission import gas
from fpgal.fields import registry as fields
from fpgal.registry import Registry, registry_key


def test_registry_key_and_unknown_names():
    assert registry_key("  My_Src ") == "my-src"
    reg = Registry("widget", {"a_b": dict})
    assert "A-B" in reg and "a_b" in reg and "c" not in reg and "" not in reg
    with pytest.raises(ValueError, match="unknown widget 'c'; known: a-b"):
        reg.factory("c")
    with pytest.raises(TypeError, match="not callable"):
        reg.register("d", 3)


@pytest.mark.parametrize("register, build, factory, table", [
    (sources.register_source, sources.source_from_name, lambda: sources.GaussianBlob((0, 0, 0), 1.0),
     sources._SOURCES),
    (spectra.register_spectrum, spectra.spectrum_from_name, lambda: (lambda E: np.asarray(E) ** -2.0),
     spectra.SPECTRA),
    (gas.register_gas, gas.gas_from_name, lambda **kw: gas.Uniform(2.0), gas._GAS),
    (fields.register_field, fields.field_from_name, lambda: (lambda xyz: np.ones_like(xyz)), fields._FIELDS),
])
def test_user_entries_found_under_either_spelling(register, build, factory, table):
    register("my_test_entry", factory)
    try:
        for spelling in ("my_test_entry", "my-test-entry", "My_Test-Entry"):
            assert build(spelling) is not None
        with pytest.raises(ValueError, match="my-test-entry"):   # the known names are listed in the error
            build("no_such_entry")
    finally:
        table.unregister("My-Test_entry")        # leave the process-wide table as it was
    assert "my_test_entry" not in table
    with pytest.raises(KeyError, match="my_test_entry"):
        table.unregister("my_test_entry")


def test_builtin_spellings_still_work():
    assert isinstance(spectra.spectrum_from_name("power_law", alpha=-2.3, Q0=1.0), spectra.PowerLaw)
    assert isinstance(spectra.spectrum_from_name("Smooth-Broken_Power-Law"), spectra.SmoothBrokenPowerLaw)
    assert isinstance(sources.source_from_name("case_bhattacharya"), sources.CaseBhattacharya)
    assert isinstance(gas.gas_from_name("Nakanishi_Sofue"), gas.NakanishiSofue)
    assert fields.field_from_name("JF12_solenoidal") is not None


def test_lazy_package_lists_its_names():
    import fpgal
    names = dir(fpgal)
    for lazy in ("solve_steady", "sde", "emission", "gas", "sources", "spectra", "analysis"):
        assert lazy in names
