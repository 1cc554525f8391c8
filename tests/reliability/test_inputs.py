"""Validation at the door (issue 15): bad tensors, spectra, counts, seeds, gas, CR densities, radii and points
give a ValueError/TypeError naming the argument, the bad value and where — never a silent wrong answer.

Each case of the issue is reproduced on a tiny grid: a separable tensor with a non-symmetric ``spatial``
part (accepted before, results off by 11–21 %); ``sde.steady_state`` with a NaN/inf spectrum (all-NaN
density before); ``emission.skymap`` with NaN or negative gas (NaN/negative maps before);
``local_spectrum(radius_kpc=-1 or nan)`` (returned a value before).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpgal import sde
from fpgal.diffusion import FieldAligned, Isotropic, check_tensor_values
from fpgal.emission import column_density, emissivity, skymap
from fpgal.emission import gas as gasmod
from fpgal.grid import Grid
from fpgal.result import CRDensity
from fpgal.sources import GaussianBlob

GRID = Grid((-2, 2, 8), (-2, 2, 8), (-1, 1, 6), E_GeV=np.array([100.0, 1000.0]))
SRC = GaussianBlob((0, 0, 0), 0.5)


def spec(E):
    return E ** -2.0


class Separable:
    """``energy_factor(E) * spatial(x)`` with a constant spatial matrix ``S`` (given as is)."""

    def __init__(self, S, factor=lambda E: 3e28):
        self.S = np.asarray(S, dtype=float)
        self.factor = factor

    def energy_factor(self, E):
        return self.factor(E)

    def spatial(self, xyz):
        return np.broadcast_to(self.S, (len(xyz), 3, 3)).copy()

    def __call__(self, xyz, E):
        return self.energy_factor(E) * self.spatial(xyz)

    def __repr__(self):
        return "Separable(test)"


class Plain:
    """The same tensor without ``energy_factor``/``spatial``: the non-separable path."""

    def __init__(self, S):
        self.S = np.asarray(S, dtype=float) * 3e28

    def __call__(self, xyz, E):
        return np.broadcast_to(self.S, (len(xyz), 3, 3)).copy()

    def __repr__(self):
        return "Plain(test)"


NONSYM = [[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.2]]      # the value in one triangle only


# ------------------------------------------------------------------------------------------- tensors
def _grid_solve(tensor, **kw):
    pytest.importorskip("petsc4py")
    from fpgal.transport import solve_steady
    return solve_steady(GRID, tensor, SRC, spec, **kw)


@pytest.mark.parametrize("tensor", [Separable(NONSYM), Plain(NONSYM)], ids=["separable", "non-separable"])
@pytest.mark.parametrize("scheme", ["split", "corner"])
def test_non_symmetric_tensor_refused_by_both_paths(tensor, scheme):
    with pytest.raises(ValueError) as info:
        _grid_solve(tensor, scheme=scheme)
    msg = str(info.value)
    assert "is not symmetric at x = (-2, -2, -1) kpc" in msg, msg
    assert "but D[1,0] = 0" in msg and "D[0,1] = " in msg
    assert "spatial()" in msg if isinstance(tensor, Separable) else "E_GeV=" in msg


def test_non_symmetric_tensor_refused_by_sde():
    with pytest.raises(ValueError, match=r"spatial\(\) is not symmetric at x = \(.*\) kpc: D\[0,1\] = 0\.3 but D\[1,0\] = 0"):
        sde.steady_state(GRID, Separable(NONSYM), SRC, spec, n_particles=10, seed=1, comm=None)


@pytest.mark.parametrize("S, problem, value", [
    (np.diag([1.0, 1.0, -0.1]), "is not positive definite", "smallest eigenvalue -0.1 (dimensionless)"),
    (np.diag([1.0, 1.0, 0.0]), "is not positive definite", "smallest eigenvalue 0 (dimensionless)"),
    (np.diag([1.0, np.nan, 1.0]), "is NaN/inf", "nan"),
])
def test_bad_spatial_tensor_named_with_point_and_value(S, problem, value):
    with pytest.raises(ValueError) as info:
        _grid_solve(Separable(S), scheme="corner")
    msg = str(info.value)
    assert f"Separable(test): spatial() {problem} at x = (-2, -2, -1) kpc" in msg, msg
    assert value in msg, msg


@pytest.mark.parametrize("factor, shown", [(lambda E: -1e28, "-1e+28"), (lambda E: math.nan, "nan"),
                                           (lambda E: math.inf if E > 500 else 1e28, "inf")])
@pytest.mark.parametrize("solver", ["grid", "sde"])
def test_energy_factor_must_be_finite_and_positive(factor, shown, solver):
    tensor = Separable(np.eye(3), factor)
    with pytest.raises(ValueError, match=r"energy_factor must be a finite positive number") as info:
        if solver == "grid":
            _grid_solve(tensor)
        else:
            sde.steady_state(GRID, tensor, SRC, spec, n_particles=10, seed=1, comm=None)
    assert shown in str(info.value) and "E_GeV=[" in str(info.value)


def test_check_tensor_values_accepts_a_field_aligned_tensor():
    pts = GRID.cell_centers_kpc().reshape(-1, 3)
    D = FieldAligned(lambda x: np.tile([1.0, 2.0, 0.5], (len(x), 1)), 1e-3, 3e28)(pts, 100.0)
    assert check_tensor_values(D, pts, "t") is not None
    with pytest.raises(ValueError, match=r"t returned shape \(3, 3\), expected \(\d+, 3, 3\)"):
        check_tensor_values(D[0], pts, "t")


# ------------------------------------------------------------------------------------------- spectra
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_sde_spectrum_nan_inf_raises_like_the_grid_solver(bad):
    spectrum = lambda E: bad if E > 500 else 1.0  # noqa: E731
    with pytest.raises(ValueError, match=r"spectrum .* is NaN/inf at E_GeV=\[1000\.0\]"):
        sde.steady_state(GRID, Isotropic(3e28), SRC, spectrum, n_particles=10, seed=1, comm=None)
    with pytest.raises(ValueError, match=r"spectrum .* is NaN/inf at E_GeV=\[1000\.0\]"):
        _grid_solve_with_spectrum(spectrum)


def _grid_solve_with_spectrum(spectrum):
    pytest.importorskip("petsc4py")
    from fpgal.transport import solve_steady
    return solve_steady(GRID, Isotropic(3e28), SRC, spectrum)


def test_spectrum_that_raises_is_named_with_the_energy():
    def spectrum(E):
        raise ZeroDivisionError("division by zero")
    with pytest.raises(ValueError, match=r"failed at E_GeV=100: ZeroDivisionError: division by zero"):
        sde.steady_state(GRID, Isotropic(3e28), SRC, spectrum, n_particles=10, seed=1, comm=None)


# ------------------------------------------------------------------------------------------- SDE arguments
@pytest.mark.parametrize("kw, exc, text", [
    ({"n_particles": 0}, ValueError, "n_particles=0"),
    ({"n_particles": -5}, ValueError, "n_particles=-5"),
    ({"n_particles": 2.5}, ValueError, "n_particles=2.5"),
    ({"n_particles": math.nan}, ValueError, "n_particles=nan"),
    ({"n_particles": True}, TypeError, "n_particles=True"),
    ({"seed": -1}, ValueError, "seed=-1"),
    ({"seed": 1.5}, TypeError, "seed=1.5"),
    ({"seed": True}, TypeError, "seed=True"),
    ({"seed": [1, -2]}, ValueError, "seed=[1, -2]"),
    ({"dt_s": -1e10}, ValueError, "dt_s=-10000000000.0"),
    ({"dt_s": math.nan}, ValueError, "dt_s=nan"),
    ({"step_kpc": 0.0}, ValueError, "step_kpc=0.0"),
    ({"E_ref_GeV": -1.0}, ValueError, "E_ref_GeV=-1.0"),
    ({"max_steps": 0}, ValueError, "max_steps=0"),
    ({"chunk_size": 0}, ValueError, "chunk_size=0"),
])
def test_sde_arguments_validated(kw, exc, text):
    args = dict(n_particles=10, seed=1)
    args.update(kw)
    with pytest.raises(exc) as info:
        sde.steady_state(GRID, Isotropic(3e28), SRC, spec, comm=None, **args)
    assert text in str(info.value)


def test_sde_good_integral_float_count_still_runs():
    cr = sde.steady_state(GRID, Isotropic(3e28), SRC, spec, n_particles=2e2, seed=np.int64(3), comm=None)
    assert cr.meta["n_particles"] == 200 and np.all(np.isfinite(cr.density))


def test_propagate_checks_seed_and_tensor():
    x0 = np.zeros((4, 3))
    with pytest.raises(ValueError, match="seed=-3"):
        sde.propagate(x0, Isotropic(3e28), 100.0, 1e12, 1e11, seed=-3)
    with pytest.raises(ValueError, match=r"spatial\(\) is not positive definite at x = \(0, 0, 0\) kpc"):
        sde.propagate(x0, Separable(np.diag([1.0, -1.0, 1.0])), 100.0, 1e12, 1e11, seed=1)


# ------------------------------------------------------------------------------------------- emission
class BadGas:
    """n_H = 1 cm^-3 except ``value`` for x > 0."""

    def __init__(self, value):
        self.value = value

    def __call__(self, xyz):
        return np.where(xyz[:, 0] > 0, self.value, 1.0)

    def __repr__(self):
        return f"BadGas({self.value})"


def _cr():
    g = Grid((-4, 4, 8), (-4, 4, 8), (-1, 1, 4), E_GeV=np.geomspace(10, 1e4, 7))
    return CRDensity(g, np.broadcast_to((g.E_GeV ** -2.7)[:, None, None, None], (g.n_E,) + g.shape).copy())


DIRS = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("value, shown", [(math.nan, "n_H = nan"), (-0.5, "n_H = -0.5"), (math.inf, "n_H = inf")])
def test_skymap_refuses_nan_or_negative_gas(value, shown):
    cr = _cr()
    q = np.ones((2,) + cr.grid.shape)     # precomputed emissivity: the gas check alone
    with pytest.raises(ValueError) as info:
        skymap(cr, BadGas(value), [100.0, 1000.0], nside=1, sun_kpc=(-3.0, 0.0, 0.0), directions=DIRS, q=q)
    msg = str(info.value)
    assert f"gas model BadGas({value}) gives {shown} cm^-3 at (" in msg and ") kpc" in msg, msg
    x_first = float(msg.split(" at (")[1].split(",")[0])
    assert x_first > 0                      # the first bad point lies where the model is bad
    with pytest.raises(ValueError, match=r"gas model BadGas"):
        column_density(BadGas(value), DIRS, (-3.0, 0.0, 0.0), cr.grid.lower_kpc, cr.grid.upper_kpc, 0.2)


def test_skymap_good_gas_still_works():
    cr = _cr()
    q = np.ones((2,) + cr.grid.shape)
    maps = skymap(cr, gasmod.Uniform(1.0), [100.0, 1000.0], nside=1, sun_kpc=(-3.0, 0.0, 0.0),
                  directions=DIRS, q=q)
    assert maps.shape == (2, 3) and np.all(np.isfinite(maps)) and np.all(maps > 0)


def test_nan_cr_density_refused_negative_allowed():
    cr = _cr()
    n = np.array(cr.density)
    n[2, 5, 2, 1] = np.nan
    with pytest.raises(ValueError) as info:
        emissivity(CRDensity(cr.grid, n), [100.0])
    msg = str(info.value)
    assert "CR protons: the CR density is nan at E_GeV=100, cell (5, 2, 1) at (1.5, -1.5, -0.25) kpc" in msg, msg
    with pytest.raises(ValueError, match="NaN/inf"):
        skymap(CRDensity(cr.grid, np.where(np.isnan(n), np.inf, n)), gasmod.Uniform(1.0), [100.0], nside=1,
               directions=DIRS)
    # negative CR densities are reported, not clipped: the emissivity is linear in n
    m = np.array(cr.density)
    m[:, 5, 2, 1] *= -1.0
    q_neg = emissivity(CRDensity(cr.grid, m), [100.0])
    q_pos = emissivity(cr, [100.0])
    assert q_neg[0, 5, 2, 1] == pytest.approx(-q_pos[0, 5, 2, 1])


def test_precomputed_emissivity_and_energies_checked():
    cr = _cr()
    q = np.ones((1,) + cr.grid.shape)
    q[0, 1, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"emissivity\) is NaN/inf at cell \(1, 1, 1\)"):
        skymap(cr, gasmod.Uniform(1.0), [100.0], nside=1, directions=DIRS, q=q)
    with pytest.raises(ValueError, match=r"energy -1\.0 \(index 1\) is not a finite positive number of GeV"):
        skymap(cr, gasmod.Uniform(1.0), [100.0, -1.0], nside=1, directions=DIRS)


# ------------------------------------------------------------------------------------------- results
@pytest.mark.parametrize("radius", [-1.0, math.nan, 0.0, math.inf, "a"])
def test_local_spectrum_radius(radius):
    with pytest.raises(ValueError, match=r"local_spectrum: radius_kpc=.*expected a (finite )?positive length in kpc"):
        _cr().local_spectrum(center_kpc=(0.0, 0.0, 0.0), radius_kpc=radius)


@pytest.mark.parametrize("center", [(math.nan, 0.0, 0.0), (1.0, 2.0), (0.0, math.inf, 0.0), "sun"])
def test_local_spectrum_center(center):
    with pytest.raises(ValueError, match=r"local_spectrum: center_kpc"):
        _cr().local_spectrum(center_kpc=center, radius_kpc=0.5)


def test_local_spectrum_good_input_unchanged():
    cr = _cr()
    assert cr.local_spectrum(center_kpc=(0.0, 0.0, 0.0), radius_kpc=0.5) == pytest.approx(cr.grid.E_GeV ** -2.7)


def test_interpolate_nan_point():
    with pytest.raises(ValueError, match=r"interpolate: xyz_kpc: point 1 = \[0.0, nan, 0.0\] kpc is not finite"):
        _cr().interpolate([[0.0, 0.0, 0.0], [0.0, math.nan, 0.0]])
    with pytest.raises(ValueError, match=r"interpolate: xyz_kpc has shape \(2, 2\)"):
        _cr().interpolate([[0.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize("factorized", [False, True])
def test_scaled_factor(factorized):
    cr = _cr()
    if factorized:
        cr = CRDensity.factorized(cr.grid, np.ones(cr.grid.shape), cr.grid.E_GeV ** -2.7)
    with pytest.raises(ValueError, match=r"factor_E has 3 values, expected one per grid energy \(nE = 7\)"):
        cr.scaled([1.0, 2.0, 3.0])
    f = np.ones(7)
    f[4] = math.nan
    with pytest.raises(ValueError, match=r"factor_E is NaN/inf at E_GeV=\[1000\.0\]"):
        cr.scaled(f)
    with pytest.raises(ValueError, match=r"factor_E=.*not a number"):
        cr.scaled("two")
    assert np.allclose(cr.scaled(2.0).density, 2.0 * cr.density)
