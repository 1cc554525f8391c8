"""`CRDensity`: the one result type of both solvers (grid/PETSc and SDE).

``density[iE, ix, iy, iz]`` is the differential number density n(E, x) in GeV⁻¹ cm⁻³ of CRs with
kinetic energy E (``grid.E_GeV``) at the cell centres of ``grid``. The differential intensity
(flux per solid angle) of an isotropic distribution is ``J = β c n / 4π`` in
GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (β → 1 for E ≫ m_p c²; the exact β of the species is used).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from . import units
from .grid import Grid
from .io import atomic_h5, write_dataset

DENSITY_UNITS = "GeV^-1 cm^-3"
INTENSITY_UNITS = "GeV^-1 cm^-2 s^-1 sr^-1"


class CRDensity:
    """CR density on a grid.

    Parameters
    ----------
    grid : Grid
    density : array (nE, nx, ny, nz), GeV⁻¹ cm⁻³
    error : optional 1σ statistical error of ``density`` (SDE results), same shape and units
    meta : free-form metadata (solver, ε, iterations, ...) stored as HDF5 attributes
    mass_GeV : rest energy of the species (proton by default), for β and rigidity
    """

    def __init__(self, grid: Grid, density: np.ndarray, error: np.ndarray | None = None,
                 meta: dict | None = None, mass_GeV: float = units.m_p_GeV):
        density = np.asarray(density, dtype=float)
        expected = (grid.n_E,) + grid.shape
        if density.shape != expected:
            raise ValueError(f"CRDensity: density has shape {density.shape}, expected (nE, nx, ny, nz) = {expected}")
        if error is not None:
            error = np.asarray(error, dtype=float)
            if error.shape != expected:
                raise ValueError(f"CRDensity: error has shape {error.shape}, expected {expected}")
        self.grid = grid
        self.density = density
        self.error = error
        self.meta = dict(meta or {})
        self.mass_GeV = float(mass_GeV)

    # -------------------------------------------------------------- physics helpers
    @property
    def E_GeV(self) -> np.ndarray:
        return self.grid.E_GeV

    def beta(self) -> np.ndarray:
        """Speed/c of particles at the grid energies (kinetic E, rest energy ``mass_GeV``)."""
        from .spectra import beta
        return beta(self.E_GeV, self.mass_GeV)

    def intensity(self) -> np.ndarray:
        """Differential intensity J = β c n / 4π, GeV⁻¹ cm⁻² s⁻¹ sr⁻¹, shape of ``density``."""
        return (self.beta() * units.c_cm_s / (4 * np.pi))[:, None, None, None] * self.density

    flux = intensity

    def scaled(self, factor_E: np.ndarray) -> "CRDensity":
        """A copy with ``density[iE] *= factor_E[iE]`` (reweighting a linear solution by energy)."""
        f = np.asarray(factor_E, dtype=float).reshape(-1, 1, 1, 1)
        err = None if self.error is None else self.error * np.abs(f)
        return CRDensity(self.grid, self.density * f, err, self.meta, self.mass_GeV)

    def local_spectrum(self, center_kpc=(-8.5, 0.0, 0.0), radius_kpc: float = 0.1,
                       interpolate: bool = True) -> np.ndarray:
        """Density averaged over the sphere |x − center| ≤ radius, GeV⁻¹ cm⁻³, shape (nE,).

        Volume-weighted: each cell counts with the fraction of its volume inside the sphere
        (estimated on a 4×4×4 sub-cell lattice), so cells partly inside count partly. When the
        sphere is smaller than a cell and holds no sub-cell sample, the density is trilinearly
        interpolated at the centre (``interpolate=True``) or a ValueError is raised.
        """
        c = np.asarray(center_kpc, dtype=float)
        g = self.grid
        if not g.contains(c[None])[0]:
            raise ValueError(f"local_spectrum: center_kpc={c.tolist()} lies outside the grid {g!r}")
        weights = _sphere_weights(g, c, float(radius_kpc))
        if weights.sum() <= 0:
            if not interpolate:
                raise ValueError(f"local_spectrum: the sphere of radius {radius_kpc} kpc around {c.tolist()} "
                                 f"holds no cell volume of a grid with spacing {g.spacing_kpc.tolist()} kpc")
            return self.interpolate(c[None])[:, 0]
        w = weights / weights.sum()
        return np.tensordot(self.density, w, axes=([1, 2, 3], [0, 1, 2]))

    def interpolate(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of the density at points (N, 3) → (nE, N); zero outside the grid."""
        from scipy.interpolate import RegularGridInterpolator
        g = self.grid
        axes = tuple(g.centers_1d_kpc(a) for a in range(3))
        pts = np.asarray(xyz_kpc, dtype=float).reshape(-1, 3)
        data = np.moveaxis(self.density, 0, -1)
        interp = RegularGridInterpolator(axes, data, bounds_error=False, fill_value=None)
        # clamp to the outermost cell centres (constant extrapolation inside the box)
        lo = np.array([a[0] for a in axes])
        hi = np.array([a[-1] for a in axes])
        vals = interp(np.clip(pts, lo, hi))
        vals[~g.contains(pts)] = 0.0
        return vals.T

    # -------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike, config_text: str = "") -> Path:
        """Write to HDF5 atomically (``/grid``, ``/density``, optional ``/error``, ``/provenance``)."""
        path = Path(path)
        with atomic_h5(path, config_text=config_text) as h5:
            save_grid(h5.create_group("grid"), self.grid)
            write_dataset(h5, "density", self.density, DENSITY_UNITS,
                          "differential CR number density n(E, x, y, z) at cell centres", compression="gzip",
                          compression_opts=1)
            if self.error is not None:
                write_dataset(h5, "error", self.error, DENSITY_UNITS, "1 sigma statistical error of density",
                              compression="gzip", compression_opts=1)
            h5.attrs["mass_GeV"] = self.mass_GeV
            meta = h5.create_group("meta")
            for key, value in self.meta.items():
                meta.attrs[key] = value if not isinstance(value, (dict, list, tuple)) else repr(value)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CRDensity":
        with h5py.File(path, "r") as h5:
            if "density" not in h5 or "grid" not in h5:
                raise ValueError(f"{path}: not an fpgal CRDensity file (needs /grid and /density)")
            grid = load_grid(h5["grid"])
            density = h5["density"][...]
            error = h5["error"][...] if "error" in h5 else None
            meta = dict(h5["meta"].attrs) if "meta" in h5 else {}
            mass = float(h5.attrs.get("mass_GeV", units.m_p_GeV))
        return cls(grid, density, error, meta, mass)

    def __repr__(self) -> str:
        return f"CRDensity({self.grid!r}, meta={self.meta})"


def save_grid(grp: h5py.Group, grid: Grid) -> None:
    for ax, name in enumerate(("x", "y", "z")):
        write_dataset(grp, f"{name}_edges", grid.edges_kpc(ax), "kpc", f"cell faces along {name}")
        write_dataset(grp, f"{name}_centers", grid.centers_1d_kpc(ax), "kpc", f"cell centres along {name}")
    write_dataset(grp, "E", grid.E_GeV, "GeV", "kinetic energy per particle")
    grp.attrs["name"] = grid.name
    grp.attrs["coordinates"] = "galactocentric Cartesian, Sun on the negative x axis"


def load_grid(grp: h5py.Group) -> Grid:
    axes = []
    for name in ("x", "y", "z"):
        e = grp[f"{name}_edges"][...]
        axes.append((float(e[0]), float(e[-1]), len(e) - 1))
    return Grid(*axes, E_GeV=grp["E"][...], name=str(grp.attrs.get("name", "")))


def _sphere_weights(grid: Grid, center: np.ndarray, radius: float, sub: int = 4) -> np.ndarray:
    """Fraction of each cell's volume inside the sphere (sub-cell sampling), shape grid.shape."""
    h = grid.spacing_kpc
    lo = np.floor((center - radius - grid.lower_kpc) / h).astype(int)
    hi = np.floor((center + radius - grid.lower_kpc) / h).astype(int)
    lo = np.clip(lo, 0, np.array(grid.shape) - 1)
    hi = np.clip(hi, 0, np.array(grid.shape) - 1)
    w = np.zeros(grid.shape)
    offs = (np.arange(sub) + 0.5) / sub
    ranges = [np.arange(lo[a], hi[a] + 1) for a in range(3)]
    # sample points: (cells along axis) x (sub) per axis
    coords = [grid.lower_kpc[a] + (ranges[a][:, None] + offs[None, :]) * h[a] for a in range(3)]
    X = coords[0][:, :, None, None, None, None]
    Y = coords[1][None, None, :, :, None, None]
    Z = coords[2][None, None, None, None, :, :]
    inside = ((X - center[0]) ** 2 + (Y - center[1]) ** 2 + (Z - center[2]) ** 2) <= radius ** 2
    frac = inside.mean(axis=(1, 3, 5))
    w[np.ix_(*ranges)] = frac
    return w
