"""Helpers of the emission tests: small grids with power-law CR protons."""
from __future__ import annotations

import numpy as np

import fpgal

E_CR_GEV = np.geomspace(10.0, 1.0e7, 25)          # 4 per decade, like the production meshes
N0, ALPHA = 1.0e-9, 2.7                           # n(T) = N0 (T / 10 GeV)^-ALPHA  [GeV^-1 cm^-3]


def power_law(T_GeV):
    return N0 * (np.asarray(T_GeV) / 10.0) ** -ALPHA


def uniform_cr(x=(-10.0, 10.0, 8), y=(-6.0, 6.0, 6), z=(-2.0, 3.0, 5), E=E_CR_GEV) -> fpgal.CRDensity:
    g = fpgal.Grid(x, y, z, E)
    return fpgal.CRDensity(g, np.broadcast_to(power_law(E)[:, None, None, None], (E.size,) + g.shape).copy())
