"""Gridded fields: trilinear exactness, sampling from models, HDF5 round trip, outside policy."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.fields import Gridded, UF23, field_from_name
from fpgal.grid import Grid

A = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7], [-0.4, 0.9, 1.1]])
C = np.array([0.2, -0.5, 1.0])


def linear(xyz):
    return np.asarray(xyz) @ A.T + C


def test_trilinear_reproduces_linear_field_exactly(rng):
    axes = (np.array([-3.0, -1.0, 0.5, 2.0, 4.0]), np.linspace(-2.0, 2.0, 6), np.array([-1.0, 0.0, 0.3, 1.0]))
    g = Gridded.from_field(linear, axes)
    pts = rng.uniform([-3, -2, -1], [4, 2, 1], size=(500, 3))
    assert np.allclose(g(pts), linear(pts), rtol=0, atol=1e-12)
    # also a bilinear term x*y is reproduced (trilinear = exact for multilinear fields)
    f = lambda p: np.stack([p[:, 0] * p[:, 1], p[:, 1] * p[:, 2], p[:, 0] * p[:, 1] * p[:, 2]], axis=1)  # noqa: E731
    assert np.allclose(Gridded.from_field(f, axes)(pts), f(pts), atol=1e-12)


def test_from_grid_uses_corners_and_converges_quadratically(rng):
    f = UF23("base")      # halo region: smooth on the kpc scale
    pts = rng.uniform([-6, 2, 2.5], [-3, 5, 3.5], size=(200, 3))
    errs = []
    for n in (8, 16):
        grid = Grid((-7.0, -2.0, n), (1.0, 6.0, n), (2.0, 4.0, n))
        g = Gridded.from_field(f, grid)
        assert g.B_muG.shape == (n + 1, n + 1, n + 1, 3)
        errs.append(np.abs(g(pts) - f(pts)).max())
    assert errs[1] < errs[0] / 3          # O(h^2): ideally /4


def test_outside_zero_or_error():
    axes = (np.linspace(0, 1, 3),) * 3
    g = Gridded.from_field(linear, axes)
    assert np.all(g(np.array([[2.0, 0.5, 0.5]])) == 0.0)
    ge = Gridded(*axes, g.B_muG, outside="error")
    with pytest.raises(ValueError, match="outside"):
        ge(np.array([[0.5, 0.5, 0.5], [0.5, -0.1, 0.5]]))


def test_save_load_roundtrip(tmp_path):
    axes = (np.linspace(-1, 1, 4), np.linspace(0, 2, 3), np.linspace(-0.5, 0.5, 5))
    g = Gridded.from_field(linear, axes)
    path = tmp_path / "b.h5"
    g.save(path)
    assert not list(tmp_path.glob(".*partial"))
    import h5py
    with h5py.File(path) as h5:
        assert h5["B_muG"].attrs["units"] == "muG"
        assert h5["x_kpc"].attrs["units"] == "kpc"
        assert "provenance" in h5
    g2 = Gridded.load(path)
    assert np.array_equal(g2.B_muG, g.B_muG)
    g3 = field_from_name(f"gridded:{path}")
    pts = np.array([[0.1, 1.2, 0.0]])
    assert np.allclose(g3(pts), linear(pts))


@pytest.mark.parametrize("bad,match", [
    (dict(B_muG=np.zeros((3, 3, 3))), "shape"),
    (dict(x_kpc=np.array([0.0, 0.0, 1.0])), "strictly increasing"),
    (dict(outside="clamp"), "outside"),
])
def test_bad_construction(bad, match):
    args = dict(x_kpc=np.linspace(0, 1, 3), y_kpc=np.linspace(0, 1, 3), z_kpc=np.linspace(0, 1, 3),
                B_muG=np.zeros((3, 3, 3, 3)))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        Gridded(**args)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Gridded.load(tmp_path / "nope.h5")
