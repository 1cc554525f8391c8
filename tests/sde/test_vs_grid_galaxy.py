"""Itô SDE vs the grid solver on a small Galaxy-like problem: a curved spiral field in a disc.

Log-spiral field b = (tan p r̂ + φ̂)/√(1 + tan² p) (pitch p = 11.5°, as the Galaxy's arms) everywhere in
an escape box |x|, |y| < 6 kpc, |z| < 1 kpc (box faces on cell faces: the grid's error is O(h²) — a
cylinder is a staircase on the mesh, first order, and would spoil the grid's Richardson step); ε = 0.1; sources on a Gaussian ring of radius 3 kpc in a
thin disc. The field lines curve (curvature radius ≈ r/cos p), so the Itô drift ∇·D matters. The grid
reference is the Richardson extrapolation of the solutions on 0.5 and 0.25 kpc cells (both O(h²),
averaged onto the 0.5 kpc cells); the SDE result carries its Richardson step-bias bound, which
``compare`` adds to the error budget. Agreement: χ²/dof ≤ 1.5 over the well-populated cells.
"""
from __future__ import annotations

import numpy as np
import pytest

import fpgal
from fpgal.analysis.compare import compare
from fpgal.diffusion import FieldAligned

pytest.importorskip("petsc4py")

R_KPC, H_KPC, EPS = 6.0, 1.0, 0.1
COARSE = fpgal.Grid((-R_KPC, R_KPC, 24), (-R_KPC, R_KPC, 24), (-H_KPC, H_KPC, 8), E_GeV=[1000.0])
FINE = fpgal.Grid((-R_KPC, R_KPC, 48), (-R_KPC, R_KPC, 48), (-H_KPC, H_KPC, 16), E_GeV=[1000.0])


class Spiral:
    """Logarithmic-spiral disc field (μG), pitch 11.5°."""

    def __init__(self, pitch_deg: float = 11.5):
        self.t = float(np.tan(np.radians(pitch_deg)))

    def __call__(self, xyz):
        xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
        r = np.hypot(xyz[:, 0], xyz[:, 1]) + 1e-12
        c, s = xyz[:, 0] / r, xyz[:, 1] / r
        return 3.0 * np.stack([self.t * c - s, self.t * s + c, np.zeros(len(r))], axis=1) / np.sqrt(1 + self.t ** 2)

    def __repr__(self):
        return "Spiral(pitch=11.5)"


def source(xyz):
    r = np.hypot(xyz[:, 0], xyz[:, 1])
    return np.exp(-0.5 * ((r - 3.0) / 0.7) ** 2 - 0.5 * (xyz[:, 2] / 0.2) ** 2)


def spectrum(E):
    return 1.0e-30 * (E / 1000.0) ** -2.2


def test_ito_sde_agrees_with_the_grid_in_a_spiral_disc(tmp_path):
    tensor = FieldAligned(Spiral(), EPS, 3.0e28)
    box = fpgal.Box()
    coarse = fpgal.solve_steady(COARSE, tensor, source, spectrum, boundary=box)
    fine = fpgal.solve_steady(FINE, tensor, source, spectrum, boundary=box).density
    fine_avg = fine.reshape(1, 24, 2, 24, 2, 8, 2).mean(axis=(2, 4, 6))
    ref = fpgal.CRDensity(COARSE, (4.0 * fine_avg - coarse.density) / 3.0, meta={"solver": "grid, Richardson"})
    # step 0.2 kpc instead of the default (0.1 kpc, limited by the escape scale, the box's half-height 1 kpc): 4× cheaper; the
    # Richardson pair measures its bias and compare counts it
    sde = fpgal.sde.steady_state(COARSE, tensor, source, spectrum, 16_000, seed=3, boundary=box, step_kpc=0.2,
                                 comm=None)
    rep = compare(ref, sde, tmp_path, plots=False)
    s = rep.summary()
    print(rep.text())
    print({k: sde.meta[k] for k in ("step_bias_rel_residence", "step_bias_rel_residence_err", "step_bias_bound_rel")})
    assert sde.meta["richardson_pair"]
    assert s["step_bias"]["sde"]["method"] == "bias-bounded"
    assert s["n_cells"] > 1000
    assert s["chi2_dof"] <= 1.5
    # not a trivially wide budget: the systematic is a few per cent, below the per-cell noise
    assert sde.meta["step_bias_bound_rel"] < 0.1
    assert abs(s["median_ratio_per_E"][0] - 1.0) < 0.03
