"""Field-line tracing against analytic field lines."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpgal.fields import LogSpiral, Ring, Uniform, trace_field_line

R = 8.5
TURN = 2 * math.pi * R


def _closure(method, step):
    lines = trace_field_line(Ring(1.0), np.array([[-R, 0.0, 0.3], [R, 0.0, -0.2]]), TURN, step, method=method)
    x = lines.xyz_kpc
    radial = np.abs(np.hypot(x[..., 0], x[..., 1]) - R).max()
    closure = np.linalg.norm(x[-1] - x[0], axis=1).max()
    assert np.allclose(x[..., 2], x[0, :, 2])                 # stays in its plane
    return radial, closure


def test_ring_rk4_closes_with_fourth_order_convergence():
    r1, c1 = _closure("rk4", 0.5)
    r2, c2 = _closure("rk4", 0.25)
    assert c1 < 1e-5 and r1 < 1e-6
    order = math.log2(c1 / c2)
    assert 3.5 < order < 4.5, order


def test_ring_rk45_stays_on_circle_to_tolerance():
    radial, closure = _closure("rk45", 1.0)          # rtol = 1e-8 of |x| ~ 8.5 kpc per step
    assert radial < 1e-7
    assert closure < 1e-7


def test_direction_reverses_and_stations():
    start = np.array([R, 0.0, 0.0])
    fwd = trace_field_line(Ring(1.0), start, 1.0, 0.25, method="rk45")
    bwd = trace_field_line(Ring(1.0), start, 1.0, 0.25, method="rk45", direction=-1)
    assert fwd.xyz_kpc.shape == (5, 1, 3)
    assert np.allclose(fwd.s_kpc, [0, 0.25, 0.5, 0.75, 1.0])
    assert fwd.xyz_kpc[-1, 0, 1] > 0 > bwd.xyz_kpc[-1, 0, 1]          # counter-clockwise along B
    assert np.allclose(fwd.xyz_kpc[-1, 0, [0, 2]], bwd.xyz_kpc[-1, 0, [0, 2]])
    # arc length: chord of 1 kpc of arc on the circle
    assert np.linalg.norm(fwd.xyz_kpc[-1, 0] - start) == pytest.approx(2 * R * math.sin(0.5 / R), rel=1e-9)


def test_logspiral_line_follows_analytic_spiral():
    pitch = 15.0
    f = LogSpiral(1.0, pitch_deg=pitch, r_min_kpc=0.5)
    lines = trace_field_line(f, np.array([5.0, 0.0, 0.0]), 10.0, 0.5, method="rk45")
    x = lines.xyz_kpc[:, 0]
    r = np.hypot(x[:, 0], x[:, 1])
    phi = np.unwrap(np.arctan2(x[:, 1], x[:, 0]))
    assert np.allclose(r, 5.0 * np.exp(phi * math.tan(math.radians(pitch))), rtol=1e-8)
    # arc length along a log spiral: s = (r - r1) / sin p
    assert (r[-1] - 5.0) / math.sin(math.radians(pitch)) == pytest.approx(10.0, rel=1e-8)


def test_line_stops_in_zero_field():
    lines = trace_field_line(Ring(1.0, r_max_kpc=10.0), np.array([[11.0, 0, 0], [5.0, 0, 0]]), 2.0, 0.5, method="rk4")
    assert lines.stopped.tolist() == [True, False]
    assert np.allclose(lines.xyz_kpc[:, 0], [11.0, 0, 0])


def test_uniform_field_straight_line():
    lines = trace_field_line(Uniform((0.0, 3.0, 4.0)), np.zeros(3), 5.0, 1.0, method="rk4")
    assert np.allclose(lines.xyz_kpc[-1, 0], [0.0, 3.0, 4.0])


@pytest.mark.parametrize("kw,match", [
    (dict(method="euler"), "method"), (dict(direction=0), "direction"),
    (dict(step_kpc=-1.0), "step_kpc"), (dict(length_kpc=float("nan")), "length_kpc"),
])
def test_bad_arguments(kw, match):
    args = dict(start_kpc=np.zeros(3), length_kpc=1.0, step_kpc=0.1)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        trace_field_line(Ring(1.0), **args)


def test_nan_start_rejected():
    with pytest.raises(ValueError, match="NaN"):
        trace_field_line(Ring(1.0), np.array([np.nan, 0, 0]), 1.0, 0.1)
