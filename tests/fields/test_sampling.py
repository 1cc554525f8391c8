"""Sampling onto grids: layout, chunking and zero-field directions."""
from __future__ import annotations

import numpy as np

from fpgal.fields import JF12, Ring, sample_centers, sample_corners, sample_directions
from fpgal.grid import Grid

GRID = Grid((-10.0, 10.0, 7), (-5.0, 5.0, 5), (-2.0, 2.0, 3))


def test_centers_and_corners_match_direct_evaluation():
    f = JF12(solenoidal=True)
    Bc = sample_centers(f, GRID)
    assert Bc.shape == (7, 5, 3, 3)
    assert np.array_equal(Bc.reshape(-1, 3), f(GRID.cell_centers_kpc().reshape(-1, 3)))
    Bk = sample_corners(f, GRID)
    assert Bk.shape == (8, 6, 4, 3)
    assert np.array_equal(Bk.reshape(-1, 3), f(GRID.cell_corners_kpc().reshape(-1, 3)))


def test_chunking_gives_identical_results():
    f = JF12(solenoidal=False)
    ref = sample_corners(f, GRID)
    for chunk in (1, 7, 24, 100):
        assert np.array_equal(sample_corners(f, GRID, chunk_points=chunk), ref)


def test_directions_and_zero_mask():
    # Ring with r_min: the inner cells have B = 0 -> b = 0 and mask True
    b, mag, zero = sample_directions(Ring(2.0, r_min_kpc=3.0), GRID)
    c = GRID.cell_centers_kpc()
    inner = np.hypot(c[..., 0], c[..., 1]) < 3.0
    assert np.array_equal(zero, inner)
    assert np.all(b[inner] == 0.0)
    assert np.allclose(np.linalg.norm(b[~inner], axis=-1), 1.0)
    assert np.allclose(mag[~inner], 2.0)
