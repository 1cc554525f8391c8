"""Examples run in the suite (on tiny meshes): each config validates, the custom-tensor example solves."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import fpgal
from fpgal.config import load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.toml")), ids=lambda p: p.name)
def test_example_configs_validate(path):
    cfg = load_config(path)
    assert cfg.diffusion.epsilon


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_tensor_example(tmp_path):
    pytest.importorskip("petsc4py")
    ex = _load_example("custom_tensor")
    mesh = tmp_path / "tiny.toml"
    mesh.write_text('[space]\nx_kpc = [-20.0, 20.0, 12]\ny_kpc = [-20.0, 20.0, 12]\nz_kpc = [-4.0, 4.0, 6]\n'
                    '[energy]\nE_min_GeV = 10.0\nE_max_GeV = 1.0e4\nn_E = 4\n')
    cr = ex.main(["--mesh", str(mesh), "--out", str(tmp_path / "out")])
    assert (tmp_path / "out" / "cr.h5").is_file() and (tmp_path / "out" / "cr.png").is_file()
    assert cr.meta["factorized"]
    # with ε_disk = 1 the user tensor is isotropic D∥: it must reproduce the built-in Isotropic tensor
    grid = fpgal.Grid.from_mesh(mesh)
    d_par = fpgal.diffusion.BrokenPowerLaw(1e29)
    user = ex.HeightDependentAnisotropy(fpgal.fields.UF23("base"), d_par, eps_disk=1.0)
    source = fpgal.sources.source_from_name("pulsar")
    spectrum = fpgal.spectra.SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=500.0, alpha1=-2.35, alpha2=-2.1, w=0.1)
    a = fpgal.solve_steady(grid, user, source, spectrum, boundary=fpgal.Cylinder())
    b = fpgal.solve_steady(grid, fpgal.diffusion.Isotropic(d_par), source, spectrum, boundary=fpgal.Cylinder())
    np.testing.assert_allclose(a.density, b.density, rtol=1e-7, atol=1e-9 * np.abs(b.density).max())
