"""Renamed names (issue 16) keep working for one release: the old name gives the very same object or
result as the new one and warns with a DeprecationWarning that names the new one.

The Sun / observer position is ``sun_kpc`` in every signature (formerly also ``observer_kpc`` in the
emission functions and ``center_kpc`` in the local fit), its default is the one value
:data:`fpgal.units.sun_position_kpc`, and ``center_kpc`` remains only where it is the centre of
something else (a source, or a sphere anywhere in the grid).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fpgal
from fpgal import units
from fpgal.analysis.crdata import CRData
from fpgal.analysis.fit import fit_injection, fixed_spectrum_result, local_basis, species_basis
from fpgal.checks import renamed_keywords
from fpgal.emission import SkyMap, column_density, gas as G, skymap
from fpgal.emission.los import los_integral
from fpgal.emission.nuclei import species_skymaps, stacked_skymaps
from fpgal.spectra import SmoothBrokenPowerLaw

PACKAGE = Path(fpgal.__file__).resolve().parent


@pytest.mark.parametrize("old_name, new_name, names", [
    ("fpgal.io", "fpgal.files",
     ("atomic_h5", "atomic_path", "write_dataset", "write_provenance", "read_provenance", "versions")),
    ("fpgal.emission.data", "fpgal.emission.skydata",
     ("load_lhaaso_km2a", "load_fermi_ackermann2012", "load_icecube_galactic_plane", "GammaPoints", "LHAASO_FILES")),
])
def test_renamed_module_is_a_deprecated_alias(monkeypatch, old_name, new_name, names):
    """Importing the old module warns naming the new one and hands out the new module's very objects."""
    monkeypatch.delitem(sys.modules, old_name, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old_name} is deprecated: it was renamed {new_name}"):
        old = importlib.import_module(old_name)
    new = importlib.import_module(new_name)
    for name in names:
        assert getattr(old, name) is getattr(new, name)
    with pytest.raises(AttributeError):
        old.no_such_name


# ------------------------------------------------------------------------------------- the helper itself
@renamed_keywords(observer_kpc="sun_kpc")
def _where(label: str, sun_kpc=units.sun_position_kpc) -> tuple:
    return label, tuple(sun_kpc)


def test_renamed_keywords_forwards_warns_and_refuses_both():
    with pytest.warns(DeprecationWarning, match=r"_where\(\): the keyword observer_kpc= is deprecated, use sun_kpc="):
        assert _where("a", observer_kpc=(1, 2, 3)) == ("a", (1, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # the new name and positional calls stay silent
        assert _where("a", sun_kpc=(1, 2, 3)) == _where("a", (1, 2, 3)) == ("a", (1, 2, 3))
        assert _where("a") == ("a", tuple(units.sun_position_kpc))
    with pytest.raises(TypeError, match=r"both observer_kpc= \(deprecated\) and sun_kpc="):
        _where("a", sun_kpc=(1, 2, 3), observer_kpc=(1, 2, 3))
    assert list(inspect.signature(_where).parameters) == ["label", "sun_kpc"]


# ------------------------------------------------------------------------ every public function that was renamed
def _cr() -> fpgal.CRDensity:
    """Power-law protons whose density varies in space, so that moving the observer changes every result."""
    g = fpgal.Grid((-10.0, 10.0, 8), (-6.0, 6.0, 6), (-2.0, 3.0, 5), np.geomspace(10.0, 1.0e5, 9))
    x, y, z = np.meshgrid(g.x_centers_kpc, g.y_centers_kpc, g.z_centers_kpc, indexing="ij")
    shape = np.exp(0.15 * x + 0.05 * y - 0.2 * z ** 2)
    return fpgal.CRDensity(g, 1e-9 * (g.E_GeV / 10.0)[:, None, None, None] ** -2.7 * shape[None])


CR = _cr()
DIRS = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [-0.6, 0.0, -0.8]])
GAS = G.Uniform(1.0)
HERE = (-4.0, 1.0, 0.5)                                        # a position away from the default Sun
REF = SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=300.0, alpha1=-2.3, alpha2=-2.0, w=0.2)
E_DATA = np.geomspace(20.0, 5.0e4, 12)
DATA = [CRData("synthetic", E_DATA, 1e-3 * E_DATA ** -2.7, *([np.zeros(12)] * 2), *([0.1e-3 * E_DATA ** -2.7] * 2),
               *([np.full(12, np.nan)] * 2), "kineticEnergy", E_DATA)]

#: name -> (old keyword, call returning an array); every call passes the position only as a keyword
CASES = {
    "emission.skymap": ("observer_kpc", lambda **kw: skymap(CR, GAS, [1e3], 1, helium_fraction=0.0, directions=DIRS, **kw)),
    "emission.SkyMap.compute": ("observer_kpc", lambda **kw: SkyMap.compute(CR, GAS, [1e3], 1, helium_fraction=0.0, **kw).intensity),
    "emission.column_density": ("observer_kpc", lambda **kw: column_density(
        lambda xyz: np.exp(-xyz[:, 2] ** 2), DIRS, lower_kpc=CR.grid.lower_kpc, upper_kpc=CR.grid.upper_kpc,
        step_kpc=0.1, **(kw or {"sun_kpc": units.sun_position_kpc}))),
    "emission.los.los_integral": ("observer_kpc", lambda **kw: los_integral(
        DIRS, lower_kpc=CR.grid.lower_kpc, upper_kpc=CR.grid.upper_kpc, step_kpc=0.1, density=GAS,
        **(kw or {"sun_kpc": units.sun_position_kpc}))),
    "emission.nuclei.species_skymaps": ("observer_kpc", lambda **kw: species_skymaps(
        CR, None, GAS, [1e3], 1, helium_fraction=0.0, directions=DIRS, **kw)["total"]),
    "emission.nuclei.stacked_skymaps": ("observer_kpc", lambda **kw: stacked_skymaps(
        CR, GAS, {"a": (np.ones((1, 1)), CR.density[:1])}, 1, directions=DIRS, **kw)["a"]),
    "analysis.fit.local_basis": ("center_kpc", lambda **kw: local_basis(CR, REF, **kw).G),
    "analysis.fit.species_basis": ("center_kpc", lambda **kw: species_basis(CR, REF, "He", **kw).G),
    "analysis.fit.fixed_spectrum_result": ("center_kpc", lambda **kw: np.array(
        fixed_spectrum_result(CR, DATA, REF, REF, **kw)["chi2"])),
    "analysis.fit.fit_injection": ("center_kpc", lambda **kw: np.array(
        fit_injection(CR, DATA, REF, free=("Q0",), **kw).values["Q0"])),
}


@pytest.mark.parametrize("name", CASES)
def test_old_keyword_gives_the_identical_result_and_warns(name):
    """f(old=HERE) == f(sun_kpc=HERE) bit for bit, with a DeprecationWarning naming sun_kpc; and the
    value really reaches the computation: f(sun_kpc=HERE) differs from f() at the default Sun."""
    old, call = CASES[name]
    with pytest.warns(DeprecationWarning, match=f"the keyword {old}= is deprecated, use sun_kpc="):
        via_old = call(**{old: HERE})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        via_new, at_default = call(sun_kpc=HERE), call()
    assert np.array_equal(via_old, via_new)
    assert not np.allclose(via_new, at_default, rtol=1e-6, atol=0.0)


SUN_DEFAULTS = ["fpgal.emission.maps:skymap", "fpgal.emission.nuclei:stacked_skymaps",
                "fpgal.emission.nuclei:species_skymaps", "fpgal.analysis.fit:local_basis",
                "fpgal.analysis.fit:fit_injection", "fpgal.analysis.fit:fixed_spectrum_result",
                "fpgal.analysis.fit:species_basis", "fpgal.plots.crslices:plot_cr", "fpgal.plots.fields:plot_field"]


@pytest.mark.parametrize("target", SUN_DEFAULTS)
def test_the_default_sun_is_units_sun_position_kpc(target):
    module, name = target.split(":")
    param = inspect.signature(getattr(importlib.import_module(module), name)).parameters["sun_kpc"]
    assert param.default is units.sun_position_kpc


#: functions whose ``center_kpc`` is the centre of something other than the Sun
OTHER_CENTRES = {
    "model/sources.py:__init__": "GaussianBlob / PointSource: the centre of a source",
    "result.py:local_spectrum": "CRDensity.local_spectrum: a sphere anywhere in the grid (default the Sun)",
    "analysis/compare.py:compare": "grid-vs-SDE local spectra: a sphere anywhere (grid centre if the Sun is off-grid)",
    "analysis/compare.py:_local_spectra": "the same sphere",
    "plots/compare.py:plot_local_ratio": "the same sphere, in the figure title",
}


def test_the_sun_has_one_parameter_name():
    """No signature in fpgal/ still calls the observer ``observer_kpc``; ``center_kpc`` only where listed."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                where = f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"
                found += [f"{where}({a.arg})" for a in args if a.arg == "observer_kpc"
                          or (a.arg == "center_kpc" and where not in OTHER_CENTRES)]
    assert found == [], f"call the Sun / the observer sun_kpc (or list another centre in OTHER_CENTRES): {found}"


# ------------------------------------------------------------------- public classes that share a name
def _public_classes_by_name() -> dict[str, list[tuple[str, str]]]:
    """{class name: [(module, docstring)]} of the public classes defined in fpgal/ (AST, no imports)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append((module, ast.get_docstring(node) or ""))
    return {name: places for name, places in found.items() if len(places) > 1}


def test_namesake_classes_point_at_each_other():
    """A class name used in two modules (fields/sources/gas ``Uniform``, diffusion/spectra ``PowerLaw``)
    says what kind of object it is and names each namesake by a :class:`fpgal...` reference that
    resolves to that very class."""
    namesakes = _public_classes_by_name()
    assert {"Uniform", "PowerLaw"} <= set(namesakes)
    for name, places in namesakes.items():
        classes = [getattr(importlib.import_module(module), name) for module, _ in places]
        for cls, (module, doc) in zip(classes, places):
            assert re.match(r"An? [\w -]*\*[\w ()-]+\*", doc), f"{module}.{name}: the docstring should start 'A ... *kind*'"
            cited = [importlib.import_module(ref.rsplit(".", 1)[0]).__dict__.get(ref.rsplit(".", 1)[1])
                     for ref in re.findall(r":class:`(fpgal(?:\.\w+)+)`", doc)]
            missing = [f"{c.__module__}.{name}" for c in classes if c is not cls and c not in cited]
            assert missing == [], f"{module}.{name} does not point at its namesakes {missing}"
