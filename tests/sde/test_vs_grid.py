"""Itô SDE (with ∇·D) vs the grid solver in a curved, varying field; CRPropa-mode deviation measured.

Ring field B = B0 r/(r + r0) φ̂ in a box off the axis: b = φ̂ curves (∇·S = −(1−ε) r̂/r ≠ 0), so the
drift term matters. The grid solution (fpgal.solve_steady, conservative finite volumes) contains
∇·D implicitly; the Itô SDE must agree with it within statistics. The grid solution's own
discretisation error at 24³ (≈ +5 % here) exceeds the SDE errors, so the reference is the Richardson
extrapolation of the 24³ and 48³ solutions (the 48³ one averaged onto the 24³ cells; both have
O(h²) errors with the same coefficient), i.e. cell averages with O(h⁴) error — what the SDE estimates. The CRPropa-compatible mode omits
the drift: its deviation is printed (and recorded in docs/sde.md), not asserted.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

import fpgal
from fpgal.analysis.compare import compare
from fpgal.diffusion import FieldAligned

from sde_fields import RingField

pytest.importorskip("petsc4py")

GRID = fpgal.Grid((1.6, 6.4, 24), (-2.4, 2.4, 24), (-2.4, 2.4, 24), E_GeV=[1000.0])
FINE = fpgal.Grid((1.6, 6.4, 48), (-2.4, 2.4, 48), (-2.4, 2.4, 48), E_GeV=[1000.0])
SIGMA = 0.4
CENTER = np.array([4.0, 0.0, 0.0])


def source(xyz):
    return np.exp(-0.5 * np.sum((xyz - CENTER) ** 2, axis=1) / SIGMA ** 2)


def spectrum(E):
    return 1.0e-30 * (E / 1000.0) ** -2.2


def grid_reference(tensor):
    """Richardson extrapolation (4 n_48 − n_24)/3 of the grid solutions on the 24³ cells."""
    coarse = fpgal.solve_steady(GRID, tensor, source, spectrum)
    fine = fpgal.solve_steady(FINE, tensor, source, spectrum).density
    fine_avg = fine.reshape(1, 24, 2, 24, 2, 24, 2).mean(axis=(2, 4, 6))
    extrap = (4.0 * fine_avg - coarse.density) / 3.0
    change = np.sum(np.abs(extrap - coarse.density)) / np.sum(coarse.density)
    print(f"grid: Richardson correction of the 24^3 solution: {change:.3%} (L1)")
    return fpgal.CRDensity(GRID, extrap, meta={"solver": "grid, Richardson 24/48"}), coarse


def _run(eps, tmp_path, n_particles=20_000, n_crpropa=10_000):
    tensor = FieldAligned(RingField(), eps, 3.0e28)
    t0 = time.perf_counter()
    ref, coarse = grid_reference(tensor)
    t1 = time.perf_counter()
    ito = fpgal.sde.steady_state(GRID, tensor, source, spectrum, n_particles, seed=1, step_kpc=0.1,
                                 lookup_spacing_kpc=0.05, comm=None)
    t2 = time.perf_counter()
    crp = fpgal.sde.steady_state(GRID, tensor, source, spectrum, n_crpropa, seed=1, step_kpc=0.1, mode="crpropa",
                                 trace_step_kpc=0.1, comm=None)
    t3 = time.perf_counter()
    r_ito = compare(ref, ito, tmp_path / "ito", plots=False)
    r_crp = compare(ref, crp, tmp_path / "crpropa", plots=eps == 0.1, labels=("grid", "crpropa"))
    r_coarse = compare(coarse, ito, tmp_path / "coarse", plots=False, labels=("grid 24^3", "sde"))
    print(f"(Itô vs the plain 24^3 grid solution: chi2/dof {r_coarse.summary()['chi2_dof']:.2f}, "
          f"median ratio {r_coarse.summary()['median_ratio_per_E'][0]:.4f})")
    print(f"\nε={eps}: grid {t1 - t0:.1f}s, ito {t2 - t1:.1f}s, crpropa {t3 - t2:.1f}s")
    print(r_ito.text())
    print(r_crp.text())
    return r_ito, r_crp


@pytest.mark.slow
@pytest.mark.parametrize("eps", [0.1, 0.01])
def test_ito_agrees_with_grid_solver(eps, tmp_path):
    r_ito, r_crp = _run(eps, tmp_path)
    s = r_ito.summary()
    assert s["n_cells"] > 1000
    assert s["chi2_dof"] <= 1.5
    c = r_crp.summary()
    print(f"CRPropa mode: chi2/dof {c['chi2_dof']:.2f}, median ratio {c['median_ratio_per_E'][0]:.4f}, "
          f"rms rel. diff {c['rms_rel_diff_per_E'][0]:.4f} (Itô: {s['rms_rel_diff_per_E'][0]:.4f})")
