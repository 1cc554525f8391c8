"""Escape boundaries: where cosmic rays leave the Galaxy (absorbing, n = 0).

A boundary is an object with ``inside(xyz_kpc (N,3)) -> bool (N,)``. Both solvers use the same
objects: the grid solver keeps the cells whose centres are inside as unknowns and sets n = 0 in the
others (Dirichlet, staircase approximation of curved surfaces, error O(h)); the SDE solver
removes a particle when it steps outside.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.grid import Grid
from ..core.modelbase import Model
from ..core.points import as_points


class Box(Model):
    """Box boundary: n = 0 on the faces of ``[lo, hi]`` (default: the grid's own faces)."""

    def __init__(self, lower_kpc=None, upper_kpc=None):
        self.lower_kpc = None if lower_kpc is None else np.asarray(lower_kpc, dtype=float)
        self.upper_kpc = None if upper_kpc is None else np.asarray(upper_kpc, dtype=float)
        if self.lower_kpc is not None and self.upper_kpc is not None and np.any(self.upper_kpc <= self.lower_kpc):
            raise ValueError(f"Box: lower_kpc={lower_kpc} must be below upper_kpc={upper_kpc} on every axis")

    def bind(self, grid: Grid) -> "Box":
        """Fill unset faces from ``grid``."""
        lo = grid.lower_kpc if self.lower_kpc is None else self.lower_kpc
        hi = grid.upper_kpc if self.upper_kpc is None else self.upper_kpc
        return Box(lo, hi)

    def inside(self, xyz_kpc: np.ndarray) -> np.ndarray:
        if self.lower_kpc is None or self.upper_kpc is None:
            raise ValueError("Box() without limits must be bound to a grid first (Box().bind(grid))")
        xyz = as_points(xyz_kpc)
        return np.all((xyz > self.lower_kpc) & (xyz < self.upper_kpc), axis=1)

    def check_grid(self, grid: Grid) -> None:
        b = self.bind(grid)
        if np.any(b.lower_kpc < grid.lower_kpc - 1e-9) or np.any(b.upper_kpc > grid.upper_kpc + 1e-9):
            raise ValueError(f"boundary {b!r} extends beyond the grid {grid!r}: the grid must contain the boundary")


class Cylinder(Model):
    """Galactic escape surface: cylinder r = √(x²+y²) < R_kpc and |z| < H_kpc (default 20, 4 kpc)."""

    def __init__(self, R_kpc: float = 20.0, H_kpc: float = 4.0):
        for name, v in (("R_kpc", R_kpc), ("H_kpc", H_kpc)):
            if not (math.isfinite(float(v)) and float(v) > 0):
                raise ValueError(f"Cylinder: {name}={v!r} must be a positive finite number")
        self.R_kpc = float(R_kpc)
        self.H_kpc = float(H_kpc)

    def bind(self, grid: Grid) -> "Cylinder":
        return self

    def inside(self, xyz_kpc: np.ndarray) -> np.ndarray:
        xyz = as_points(xyz_kpc)
        return (np.hypot(xyz[:, 0], xyz[:, 1]) < self.R_kpc) & (np.abs(xyz[:, 2]) < self.H_kpc)

    def check_grid(self, grid: Grid) -> None:
        lo, hi = grid.lower_kpc, grid.upper_kpc
        tol = 1e-9
        ok = (lo[0] <= -self.R_kpc + tol and hi[0] >= self.R_kpc - tol and lo[1] <= -self.R_kpc + tol
              and hi[1] >= self.R_kpc - tol and lo[2] <= -self.H_kpc + tol and hi[2] >= self.H_kpc - tol)
        if not ok:
            raise ValueError(f"{self!r} does not fit in the grid box x={grid.x_kpc[:2]}, y={grid.y_kpc[:2]}, "
                             f"z={grid.z_kpc[:2]} kpc: the grid must contain the boundary")


def interior_mask(boundary, grid: Grid) -> np.ndarray:
    """Cells (nx, ny, nz) whose centres lie strictly inside ``boundary`` (the unknowns)."""
    b = boundary.bind(grid)
    return b.inside(grid.cell_centers_kpc().reshape(-1, 3)).reshape(grid.shape)
