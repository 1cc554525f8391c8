"""Analytic fields: geometry, divergence and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpgal.fields import LogSpiral, Ring, Uniform, XField, divergence_diagnostic
from fpgal.grid import Grid


def test_ring_is_azimuthal_with_constant_magnitude():
    pts = np.array([[3.0, 4.0, 0.2], [-8.5, 0.0, 0.0], [0.0, -2.0, -1.0]])
    B = Ring(2.0)(pts)
    assert np.allclose(np.linalg.norm(B, axis=1), 2.0)
    assert np.allclose(np.einsum("ij,ij->i", B, pts), 0.0)          # ⊥ position
    assert np.allclose(B[1], [0.0, -2.0, 0.0])                          # counter-clockwise at -x
    assert np.linalg.norm(Ring(1.0, r_min_kpc=4.0, r_max_kpc=6.0)(pts[[0]])) == pytest.approx(1.0)
    assert np.all(Ring(1.0, r_min_kpc=6.0)(pts[[0]]) == 0)
    assert np.all(Ring(1.0, z_max_kpc=0.1)(pts[[0]]) == 0)


def test_logspiral_pitch_and_profile():
    f = LogSpiral(B0_muG=3.0, pitch_deg=11.5, r0_kpc=8.5, r_min_kpc=1.0)
    pts = np.array([[-8.5, 0.0, 0.0], [0.0, 17.0, 0.0]])
    B = f(pts)
    r_hat = pts / np.linalg.norm(pts, axis=1)[:, None]
    Br = np.einsum("ij,ij->i", B, r_hat)
    assert np.allclose(np.linalg.norm(B, axis=1), [3.0, 1.5])         # ∝ 1/r
    assert np.allclose(np.degrees(np.arcsin(Br / np.linalg.norm(B, axis=1))), 11.5)


def test_logspiral_source_sheet_flux_equals_analytic():
    """Σ over cells of ∮B·dA = flux out of the box = 2π r0 B0 sin p · height (the r_min sheet's source)."""
    B0, p, r0, H = 2.0, 20.0, 8.5, 2.0
    f = LogSpiral(B0, pitch_deg=p, r0_kpc=r0, r_min_kpc=1.5)
    g = Grid((-4.0, 4.0, 16), (-4.0, 4.0, 16), (-H / 2, H / 2, 4))
    d = divergence_diagnostic(f, g, n_gauss=4)
    expect = 2 * math.pi * r0 * B0 * math.sin(math.radians(p)) * H
    assert d.flux_muG_kpc2.sum() == pytest.approx(expect, rel=1e-6)
    # and away from the sheet the field is solenoidal: cells with r > 2.5 kpc carry no net flux
    c = g.cell_centers_kpc()
    far = np.hypot(c[..., 0], c[..., 1]) > 2.5
    assert np.abs(d.relative[far]).max() < 1e-5


@pytest.mark.parametrize("field,box", [
    (Ring(1.5), ((2.0, 10.0, 16), (-4.0, 4.0, 16), (-2.0, 2.0, 8))),
    (Uniform((1.0, -2.0, 0.5)), ((2.0, 10.0, 16), (-4.0, 4.0, 16), (-2.0, 2.0, 8))),
    # XField: off the mid-plane (kink) and off the cone r = r_c(z) (tangential jump of |B|)
    (XField(), ((10.0, 16.0, 12), (-3.0, 3.0, 12), (0.5, 4.5, 8))),      # outer region
    (XField(), ((1.0, 3.0, 8), (-1.0, 1.0, 8), (0.5, 4.5, 8))),          # inner region
])
def test_smooth_analytic_fields_are_solenoidal(field, box):
    d = divergence_diagnostic(field, Grid(*box), n_gauss=3)
    assert d.summary["max"] < 1e-6


def test_xfield_matches_jf12_x_part_and_elevation():
    f = XField()
    # outer region: constant elevation Θ0 = 49°
    B = f(np.array([[15.0, 0.0, 1.0]]))[0]
    assert math.degrees(math.atan2(B[2], B[0])) == pytest.approx(49.0, abs=1e-10)
    # mid-plane inside r_Xc: vertical field
    B = f(np.array([[0.0, 3.0, 0.0]]))[0]
    assert abs(B[0]) < 1e-12 and abs(B[1]) < 1e-12 and B[2] > 0


@pytest.mark.parametrize("make,match", [
    (lambda: Ring(float("nan")), "B0_muG"),
    (lambda: Ring(1.0, r_min_kpc=5.0, r_max_kpc=4.0), "range"),
    (lambda: LogSpiral(1.0, pitch_deg=95.0), "pitch_deg"),
    (lambda: LogSpiral(1.0, r_min_kpc=0.0), "r_min_kpc"),
    (lambda: XField(theta0_deg=0.0), "theta0_deg"),
    (lambda: Uniform((1.0, 2.0)), "three finite numbers"),
])
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("pts,match", [
    (np.array([[0.0, np.nan, 1.0]]), "NaN"),
    (np.zeros((4, 2)), "shape"),
    (np.zeros((2, 3, 3)), "shape"),
])
def test_bad_positions(pts, match):
    with pytest.raises(ValueError, match=match):
        Ring(1.0)(pts)
