"""fpgal.sde.steady_state against the Dirichlet-box eigenfunction solution (isotropic, constant D)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fpgal
from fpgal import units
from fpgal.diffusion import Isotropic
from fpgal.sde import steady_state

from sde_analytic import box_cell_averages

D0 = 3.0e28
GRID = fpgal.Grid((-1, 1, 16), (-1, 1, 16), (-1, 1, 16), E_GeV=[100.0, 1000.0])
HALF = 0.25                                    # source: the central 4×4×4 cells, |x_i| < 0.25 kpc
Q0 = 2.0                                       # GeV⁻¹ cm⁻³ s⁻¹ per unit relative source density


def d_par(E):
    return D0 * (np.asarray(E) / 100.0) ** 0.5


def source(xyz):
    return np.all(np.abs(xyz) < HALF, axis=1).astype(float)


def spectrum(E):
    return Q0 * (E / 100.0) ** -2.0


def analytic(E, loss_rate_s=0.0):
    Q_per_s = spectrum(E) * (2 * HALF * units.kpc_cm) ** 3
    return box_cell_averages(GRID.lower_kpc, GRID.upper_kpc, GRID.shape, [-HALF] * 3, [HALF] * 3,
                             float(d_par(E)), Q_per_s, loss_rate_s=loss_rate_s)


def pulls(n, err, ref, max_rel_err=0.1):
    good = (err > 0) & (err < max_rel_err * n)
    return (n - ref)[good] / err[good], good


@pytest.fixture(scope="module")
def box_result():
    return steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=40_000, seed=3, step_kpc=0.0625,
                        comm=None)


def test_box_green_function(box_result):
    cr = box_result
    assert cr.meta["fraction_not_absorbed"] == 0.0
    assert "spectrum(E)/D_par(E)" in cr.meta["energy_scaling"]
    for iE, E in enumerate(GRID.E_GeV):
        ref = analytic(E)
        p, good = pulls(cr.density[iE], cr.error[iE], ref)
        chi2 = float(np.mean(p ** 2))
        centre = cr.density[iE][6:10, 6:10, 6:10].sum() / ref[6:10, 6:10, 6:10].sum()
        centre_err = math.sqrt(np.sum(cr.error[iE][6:10, 6:10, 6:10] ** 2)) / ref[6:10, 6:10, 6:10].sum()
        print(f"E={E:g} GeV: {good.sum()} cells, chi2/dof={chi2:.3f}, mean pull {p.mean():+.3f}, "
              f"source-region ratio {centre:.4f} ± {centre_err:.4f}")
        assert good.sum() > 2000
        # 64 batches: the pulls follow Student's t with 63 dof, E[t²] = 63/61 ≈ 1.03
        assert chi2 < 1.2
        assert abs(p.mean()) < 0.15                     # cells are correlated; no common offset
        assert abs(centre - 1.0) < 3 * centre_err + 0.005
        assert np.max(np.abs(p)) < 6.0


def test_snapshot_sum_equals_residence_estimate():
    """Burst snapshots every 4 steps (the paper's method) estimate the same density."""
    dtau = 0.5 * 0.0625 ** 2                          # kpc²
    dt_s = dtau * units.kpc_cm ** 2 / float(d_par(1000.0))
    times = (np.arange(1, 400) * 4) * dt_s
    cr = steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=20_000, seed=4, dt_s=dt_s,
                      estimator="snapshots", snapshot_times_s=times, comm=None)
    ref = analytic(100.0)
    p, good = pulls(cr.density[0], cr.error[0], ref, 0.15)
    total = cr.density[0].sum() / ref.sum()
    print(f"snapshots: chi2/dof={np.mean(p ** 2):.3f} over {good.sum()} cells, total ratio {total:.4f}")
    assert good.sum() > 1000
    assert np.mean(p ** 2) < 1.3
    assert abs(total - 1.0) < 0.03


def test_catastrophic_losses_as_weights():
    """A uniform loss rate r(E) gives the shifted eigenvalues λ + r/D (−D∇²n + r n = q)."""
    from fpgal.transport.losses import CatastrophicRate
    rate = lambda xyz, E: np.full(len(xyz), 3.0 * float(d_par(E)) / units.kpc_cm ** 2 * (E / 100.0) ** -0.5)  # noqa: E731
    cr = steady_state(GRID, Isotropic(d_par), source, spectrum, n_particles=20_000, seed=5, step_kpc=0.0625,
                      losses=CatastrophicRate(rate), comm=None)
    for iE, E in enumerate(GRID.E_GeV):
        r = float(rate(np.zeros((1, 3)), E)[0])
        ref = analytic(E, loss_rate_s=r)
        no_loss = analytic(E)
        p, good = pulls(cr.density[iE], cr.error[iE], ref, 0.15)
        total = cr.density[iE].sum() / ref.sum()
        print(f"losses E={E:g}: chi2/dof={np.mean(p ** 2):.3f}, total ratio {total:.4f}, "
              f"loss suppression {ref.sum() / no_loss.sum():.3f}")
        assert np.mean(p ** 2) < 1.3
        assert abs(total - 1.0) < 0.03
        assert ref.sum() / no_loss.sum() < 0.9          # the losses matter


def test_seed_reproducible_and_different_seeds_differ():
    kw = dict(n_particles=3000, step_kpc=0.125, comm=None)
    a = steady_state(GRID, Isotropic(d_par), source, spectrum, seed=7, **kw)
    b = steady_state(GRID, Isotropic(d_par), source, spectrum, seed=7, **kw)
    c = steady_state(GRID, Isotropic(d_par), source, spectrum, seed=8, **kw)
    np.testing.assert_array_equal(a.density, b.density)
    np.testing.assert_array_equal(a.error, b.error)
    assert not np.array_equal(a.density, c.density)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="estimator"):
        steady_state(GRID, Isotropic(d_par), source, spectrum, 10, estimator="burst", comm=None)
    with pytest.raises(ValueError, match="n_particles"):
        steady_state(GRID, Isotropic(d_par), source, spectrum, 0, comm=None)
    with pytest.raises(ValueError, match="zero in every cell"):
        steady_state(GRID, Isotropic(d_par), lambda x: np.zeros(len(x)), spectrum, 10, comm=None)
    with pytest.raises(ValueError, match="snapshot_times_s"):
        steady_state(GRID, Isotropic(d_par), source, spectrum, 10, estimator="snapshots", comm=None)
