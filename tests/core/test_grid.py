"""Grid geometry and named meshes."""
import numpy as np
import pytest

from fpgal import Grid
from fpgal.grid import MESH_DIR


def test_cell_centres_and_spacing():
    g = Grid(x_kpc=(-2, 2, 4), y_kpc=(0, 3, 6), z_kpc=(-1, 1, 5), E_GeV=[10.0, 100.0])
    assert g.shape == (4, 6, 5)
    np.testing.assert_allclose(g.spacing_kpc, [1.0, 0.5, 0.4])
    np.testing.assert_allclose(g.x_centers_kpc, [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(g.z_centers_kpc, [-0.8, -0.4, 0.0, 0.4, 0.8], atol=1e-14)
    c = g.cell_centers_kpc()
    assert c.shape == (4, 6, 5, 3)
    np.testing.assert_allclose(c[1, 2, 3], [-0.5, 1.25, 0.4])
    corners = g.cell_corners_kpc()
    assert corners.shape == (5, 7, 6, 3)
    np.testing.assert_allclose(corners[-1, -1, -1], [2, 3, 1])
    assert g.cell_volume_kpc3 == pytest.approx(0.2)
    assert g.cell_volume_cm3 == pytest.approx(0.2 * 3.0856775814913673e21 ** 3)


def test_cell_index_and_contains():
    g = Grid((-2, 2, 4), (-2, 2, 4), (-1, 1, 2))
    idx, inside = g.cell_index(np.array([[-1.9, 0.1, 0.5], [3.0, 0, 0]]))
    assert idx[0].tolist() == [0, 2, 1]
    assert inside.tolist() == [True, False]


@pytest.mark.parametrize("h, n", [("1", (40, 40, 8)), ("0.5", (80, 80, 16)), ("0.25", (160, 160, 32)),
                                  ("0.1", (400, 400, 80))])
def test_named_meshes(h, n):
    g = Grid.from_mesh(f"milkyway-{h}kpc")
    assert g.shape == n
    np.testing.assert_allclose(g.spacing_kpc, float(h))
    np.testing.assert_allclose(g.lower_kpc, [-20, -20, -4])
    np.testing.assert_allclose(g.upper_kpc, [20, 20, 4])
    assert g.E_GeV[0] == pytest.approx(10.0) and g.E_GeV[-1] == pytest.approx(1e7)
    assert np.allclose(np.diff(np.log10(g.E_GeV)), np.log10(g.E_GeV[1] / g.E_GeV[0]))  # log-spaced


def test_mesh_files_all_load():
    files = sorted(MESH_DIR.glob("*.toml"))
    assert len(files) >= 4
    for f in files:
        assert Grid.from_mesh(f).n_cells > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(x_kpc=(1, 0, 4)), "lo < hi"),
    (dict(x_kpc=(0, 1, 0)), "positive integer"),
    (dict(x_kpc=(0, 1)), r"\(lo_kpc, hi_kpc, n_cells\)"),
    (dict(E_GeV=[10.0, 5.0]), "increasing"),
    (dict(E_GeV=[-1.0]), "positive"),
])
def test_bad_grids(kwargs, match):
    args = dict(x_kpc=(0, 1, 2), y_kpc=(0, 1, 2), z_kpc=(0, 1, 2), E_GeV=[1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Grid(**args)


def test_unknown_mesh_lists_known():
    with pytest.raises(FileNotFoundError, match="milkyway-0.5kpc"):
        Grid.from_mesh("milkyway-7kpc")
