"""`CRDensity`: the one result type of both solvers (grid/PETSc and SDE).

``density[iE, ix, iy, iz]`` is the differential number density n(E, x) in GeV⁻¹ cm⁻³ of CRs with
kinetic energy E (``grid.E_GeV``) at the cell centres of ``grid``. The differential intensity
(flux per solid angle) of an isotropic distribution is ``J = β c n / 4π`` in
GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (β → 1 for E ≫ m_p c²; the exact β of the species is used).

Two forms hold the same n(E, x):

* general — the full array ``density`` (nE, nx, ny, nz), optionally ``error``;
* factorized — ``n(E, x) = energy_factor[iE] · spatial[ix, iy, iz]``: what both solvers compute
  for a separable tensor without losses (grid solver: n = spectrum(E)/f(E) · G(x)). Only
  ``spatial`` (GeV⁻¹ cm⁻³) and ``energy_factor`` (dimensionless) are stored; ``density`` is
  expanded on first access (cached, read-only), and ``local_spectrum``, ``interpolate`` and
  ``scaled`` work on the factors. Made by :meth:`CRDensity.factorized`; ``is_factorized`` tells.

MPI: a result of a parallel solve is replicated on every rank and carries its communicator
(``comm``); :meth:`CRDensity.save` is then collective (rank 0 writes the one file). The file
layout is documented in ``docs/formats.md``.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from .core import units
from .core.grid import Grid
from .core.files import atomic_h5, write_dataset
from .core.mpi import on_root

DENSITY_UNITS = "GeV^-1 cm^-3"
INTENSITY_UNITS = "GeV^-1 cm^-2 s^-1 sr^-1"
FORMAT = "fpgal.CRDensity"
FORMAT_VERSION = 2      # 1: /density (+ /error) without format attributes; 2: + factorized layout


class CRDensity:
    """CR density on a grid.

    Parameters
    ----------
    grid : Grid
    density : array (nE, nx, ny, nz), GeV⁻¹ cm⁻³
    error : optional 1σ statistical error of ``density`` (SDE results), same shape and units
    meta : free-form metadata (solver, ε, iterations, ...) stored as HDF5 attributes
    mass_GeV : rest energy of the species (proton by default), for β and rigidity
    comm : the mpi4py (or PETSc) communicator of a parallel solve whose result every rank holds;
        makes :meth:`save` collective. None (default) for serial results and loaded files.

    A factorized density n(E, x) = energy_factor(E) · spatial(x) is made with
    :meth:`CRDensity.factorized`. Assigning ``density`` or ``error`` makes a result general.
    """

    def __init__(self, grid: Grid, density: np.ndarray, error: np.ndarray | None = None,
                 meta: dict | None = None, mass_GeV: float = units.m_p_GeV, *, comm=None):
        self._init_common(grid, meta, mass_GeV, comm)
        self._density = _as_shape(density, (grid.n_E,) + grid.shape, "density", "(nE, nx, ny, nz)")
        self._error = None if error is None else _as_shape(error, (grid.n_E,) + grid.shape, "error", "(nE, nx, ny, nz)")
        self._spatial = self._energy_factor = self._spatial_error = None

    @classmethod
    def factorized(cls, grid: Grid, spatial: np.ndarray, energy_factor: np.ndarray,
                   spatial_error: np.ndarray | None = None, meta: dict | None = None,
                   mass_GeV: float = units.m_p_GeV, *, comm=None, normalize: bool = False) -> "CRDensity":
        """A factorized density n(E, x) = energy_factor[iE] · spatial[ix, iy, iz].

        Parameters
        ----------
        grid : Grid
        spatial : array (nx, ny, nz) in GeV⁻¹ cm⁻³ — the spatial shape, carrying the density units (copied)
        energy_factor : array (nE,), dimensionless — the energy dependence (copied)
        spatial_error : optional 1σ error of ``spatial`` (nx, ny, nz), GeV⁻¹ cm⁻³; the error of the density
            is then ``|energy_factor[iE]| · spatial_error`` (an SDE tally scaled to all energies)
        meta, mass_GeV, comm : as for ``CRDensity(...)``
        normalize : rescale the pair so that max |energy_factor| = 1 (``spatial`` is then n at that
            energy); the solvers do this, so ``spatial`` is a density and ``energy_factor`` ≤ 1.
            Without it the arrays are kept exactly as given.
        """
        # copies: the cached expansion of ``density`` must not change behind the object's back
        spatial = _as_shape(spatial, grid.shape, "spatial", "(nx, ny, nz)").copy()
        factor = _as_shape(energy_factor, (grid.n_E,), "energy_factor", "(nE,)").copy()
        err = (None if spatial_error is None
               else _as_shape(spatial_error, grid.shape, "spatial_error", "(nx, ny, nz)").copy())
        if normalize:
            ref = float(factor[np.argmax(np.abs(factor))])
            if ref != 0.0:
                factor, spatial = factor / ref, spatial * ref
                err = None if err is None else err * abs(ref)
        obj = cls.__new__(cls)
        obj._init_common(grid, meta, mass_GeV, comm)
        obj._density = obj._error = None
        obj._spatial, obj._energy_factor = _read_only(spatial), _read_only(factor)
        obj._spatial_error = None if err is None else _read_only(err)
        return obj

    def _init_common(self, grid: Grid, meta: dict | None, mass_GeV: float, comm) -> None:
        self.grid = grid
        self.meta = dict(meta or {})
        self.mass_GeV = float(mass_GeV)
        self.comm = _parallel_comm(comm)

    # -------------------------------------------------------------- the two forms
    @property
    def is_factorized(self) -> bool:
        """True when held as ``energy_factor`` ⊗ ``spatial`` (see :meth:`factorized`)."""
        return self._spatial is not None

    @property
    def spatial(self) -> np.ndarray | None:
        """Spatial factor (nx, ny, nz) in GeV⁻¹ cm⁻³ of a factorized result (read-only); None if general."""
        return self._spatial

    @property
    def energy_factor(self) -> np.ndarray | None:
        """Dimensionless energy factor (nE,) of a factorized result (read-only); None if general."""
        return self._energy_factor

    @property
    def spatial_error(self) -> np.ndarray | None:
        """1σ error of ``spatial`` (nx, ny, nz), GeV⁻¹ cm⁻³, of a factorized SDE result; else None."""
        return self._spatial_error

    @property
    def density(self) -> np.ndarray:
        """n(E, x) (nE, nx, ny, nz) in GeV⁻¹ cm⁻³; for a factorized result expanded on first access
        (cached, read-only: modify a copy, or use :meth:`scaled`)."""
        if self._density is None:
            self._density = _read_only(self._energy_factor[:, None, None, None] * self._spatial[None])
        return self._density

    @density.setter
    def density(self, value: np.ndarray) -> None:
        self._make_general()
        self._density = _as_shape(value, (self.grid.n_E,) + self.grid.shape, "density", "(nE, nx, ny, nz)")

    @property
    def error(self) -> np.ndarray | None:
        """1σ error of ``density`` (same shape, GeV⁻¹ cm⁻³) or None; a factorized one is expanded as
        ``|energy_factor[iE]| · spatial_error`` on first access (cached, read-only)."""
        if self._error is None and self._spatial_error is not None:
            self._error = _read_only(np.abs(self._energy_factor)[:, None, None, None] * self._spatial_error[None])
        return self._error

    @error.setter
    def error(self, value: np.ndarray | None) -> None:
        self._make_general()
        self._error = None if value is None else _as_shape(value, self._density.shape, "error", "(nE, nx, ny, nz)")

    def _make_general(self) -> None:
        """Turn a factorized result into a general one (writable full arrays)."""
        if self.is_factorized:
            error = self.error
            self._density = np.array(self.density)
            self._error = None if error is None else np.array(error)
            self._spatial = self._energy_factor = self._spatial_error = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["comm"] = None     # a communicator does not travel to another process
        return state

    # -------------------------------------------------------------- physics helpers
    @property
    def E_GeV(self) -> np.ndarray:
        return self.grid.E_GeV

    def beta(self) -> np.ndarray:
        """Speed/c of particles at the grid energies (kinetic E, rest energy ``mass_GeV``)."""
        from .model.spectra import beta
        return beta(self.E_GeV, self.mass_GeV)

    def intensity(self) -> np.ndarray:
        """Differential intensity J = β c n / 4π, GeV⁻¹ cm⁻² s⁻¹ sr⁻¹, shape of ``density``."""
        from .model.spectra import intensity_per_density
        return intensity_per_density(self.E_GeV, self.mass_GeV)[:, None, None, None] * self.density

    flux = intensity

    def scaled(self, factor_E: np.ndarray) -> "CRDensity":
        """A copy with n(E_i, x) multiplied by ``factor_E[i]`` (reweighting a linear solution by energy).

        ``factor_E``: (nE,) or a scalar, dimensionless. Errors scale by |factor_E|. A factorized result
        stays factorized (only ``energy_factor`` changes).
        """
        try:
            f = np.asarray(factor_E, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scaled: factor_E={factor_E!r} is not a number or an array of numbers") from exc
        if f.size not in (1, self.grid.n_E):
            raise ValueError(f"scaled: factor_E has {f.size} values, expected one per grid energy "
                             f"(nE = {self.grid.n_E}) or a single number")
        f = np.broadcast_to(f, (self.grid.n_E,))
        bad = ~np.isfinite(f)
        if bad.any():
            raise ValueError(f"scaled: factor_E is NaN/inf at E_GeV={self.grid.E_GeV[bad].tolist()} "
                             f"(values {f[bad].tolist()}); expected finite numbers")
        if self.is_factorized:
            return CRDensity.factorized(self.grid, self._spatial, self._energy_factor * f, self._spatial_error,
                                        self.meta, self.mass_GeV, comm=self.comm)
        f4 = f[:, None, None, None]
        err = None if self.error is None else self.error * np.abs(f4)
        return CRDensity(self.grid, self.density * f4, err, self.meta, self.mass_GeV, comm=self.comm)

    def local_spectrum(self, center_kpc=units.sun_position_kpc, radius_kpc: float = 0.1,
                       interpolate: bool = True) -> np.ndarray:
        """Density averaged over the sphere |x − center| ≤ radius, GeV⁻¹ cm⁻³, shape (nE,).

        n_loc(E) = Σ_cells w_c n(E, x_c) / Σ_cells w_c, volume-weighted: each cell counts with the
        fraction w_c of its volume inside the sphere (estimated on a 4×4×4 sub-cell lattice), so cells
        partly inside count partly. When the sphere is smaller than a cell and holds no sub-cell
        sample, the density is trilinearly interpolated at the centre (``interpolate=True``) or a
        ValueError is raised. A factorized result is averaged as ``energy_factor · Σ w_c spatial_c``.
        """
        c = _points(center_kpc, "local_spectrum: center_kpc", single=True)[0]
        radius_kpc = _positive_length(radius_kpc, "local_spectrum: radius_kpc")
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
        if self.is_factorized:
            return self._energy_factor * float(np.tensordot(self._spatial, w, axes=3))
        return np.tensordot(self.density, w, axes=([1, 2, 3], [0, 1, 2]))

    def interpolate(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of the density (GeV⁻¹ cm⁻³) at points (N, 3) kpc → (nE, N).

        Constant beyond the outermost cell centres inside the box, zero outside the grid. A
        factorized result interpolates ``spatial`` once and multiplies by ``energy_factor``.
        """
        pts = _points(xyz_kpc, "interpolate: xyz_kpc")
        if self.is_factorized:
            return self._energy_factor[:, None] * _trilinear(self.grid, self._spatial, pts)[None, :]
        return _trilinear(self.grid, np.moveaxis(self.density, 0, -1), pts).T

    # -------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike, config_text: str = "") -> Path:
        """Write to HDF5 atomically; the layout (version 2) is documented in ``docs/formats.md``.

        ``/grid``, ``/meta``, ``/provenance`` and either ``/spatial`` + ``/energy_factor`` (+
        ``/spatial_error``) for a factorized result or ``/density`` (+ ``/error``) for a general one.
        Collective when the result carries a communicator (``comm``, from a parallel solve): every
        rank must call it; rank 0 writes the one file and every rank returns the path or raises the
        error rank 0 met. Without one, this process writes the file.
        """
        path = Path(path)
        return on_root(lambda: self._write(path, config_text), self.comm)

    def _write(self, path: Path, config_text: str) -> Path:
        with atomic_h5(path, config_text=config_text) as h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["layout"] = "factorized" if self.is_factorized else "general"
            h5.attrs["mass_GeV"] = self.mass_GeV
            save_grid(h5.create_group("grid"), self.grid)
            if self.is_factorized:
                self._write_factorized(h5)
            else:
                self._write_general(h5)
            meta = h5.create_group("meta")
            for key, value in self.meta.items():
                meta.attrs[key] = value if not isinstance(value, (dict, list, tuple)) else repr(value)
        return path

    def _write_general(self, h5: h5py.File) -> None:
        write_dataset(h5, "density", self.density, DENSITY_UNITS,
                      "differential CR number density n(E, x, y, z) at cell centres", compression="gzip",
                      compression_opts=1)
        if self.error is not None:
            write_dataset(h5, "error", self.error, DENSITY_UNITS, "1 sigma statistical error of density",
                          compression="gzip", compression_opts=1)

    def _write_factorized(self, h5: h5py.File) -> None:
        write_dataset(h5, "spatial", self._spatial, DENSITY_UNITS,
                      "spatial factor S(x, y, z) at cell centres: n(E, x, y, z) = energy_factor(E) * spatial(x, y, z)",
                      compression="gzip", compression_opts=1)
        write_dataset(h5, "energy_factor", self._energy_factor, "1",
                      "energy factor f(E) on grid/E: n(E, x, y, z) = energy_factor(E) * spatial(x, y, z)")
        if self._spatial_error is not None:
            write_dataset(h5, "spatial_error", self._spatial_error, DENSITY_UNITS,
                          "1 sigma statistical error of spatial; error of n = |energy_factor(E)| * spatial_error",
                          compression="gzip", compression_opts=1)

    def plot(self, path: str | os.PathLike, energy_GeV: float = 1000.0, title: str = "") -> Path:
        """PNG of face-on/edge-on slices at the grid energy nearest ``energy_GeV`` and the local spectrum
        (:func:`fpgal.plots.crslices.plot_cr`). Collective like :meth:`save`: with a communicator rank 0
        draws the one file and every rank returns its path."""
        from .plots.crslices import plot_cr
        return on_root(lambda: plot_cr(self, path, energy_GeV=energy_GeV, title=title), self.comm)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CRDensity":
        """Read a file written by :meth:`save` (format versions 1 and 2, ``docs/formats.md``)."""
        with h5py.File(path, "r") as h5:
            layout = _file_layout(h5, path)
            grid = load_grid(h5["grid"])
            meta = dict(h5["meta"].attrs) if "meta" in h5 else {}
            mass = float(h5.attrs.get("mass_GeV", units.m_p_GeV))
            if layout == "factorized":
                err = h5["spatial_error"][...] if "spatial_error" in h5 else None
                return cls.factorized(grid, h5["spatial"][...], h5["energy_factor"][...], err, meta, mass)
            error = h5["error"][...] if "error" in h5 else None
            return cls(grid, h5["density"][...], error, meta, mass)

    def __repr__(self) -> str:
        form = ", factorized" if self.is_factorized else ""
        return f"CRDensity({self.grid!r}{form}, meta={self.meta})"


def _points(xyz_kpc, what: str, single: bool = False) -> np.ndarray:
    """Positions as a float array (N, 3) in kpc, all finite; ``single``: exactly one point (3 numbers).
    ValueError naming ``what``, the value and the first bad point otherwise."""
    try:
        pts = np.asarray(xyz_kpc, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}={xyz_kpc!r}: expected {'3' if single else '(N, 3)'} numbers in kpc") from exc
    if single and pts.shape != (3,):
        raise ValueError(f"{what}={xyz_kpc!r}: expected three coordinates (x, y, z) in kpc")
    if not single and (pts.ndim not in (1, 2) or pts.shape[-1] != 3):
        raise ValueError(f"{what} has shape {pts.shape}: expected (N, 3) positions in kpc")
    pts = pts.reshape(-1, 3)
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{what}: point {i} = {pts[i].tolist()} kpc is not finite "
                         f"({int((~finite).sum())} of {len(pts)} points); expected finite coordinates in kpc")
    return pts


def _positive_length(value, what: str) -> float:
    """``value`` as a finite positive float (kpc); ValueError naming ``what`` and the value otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}={value!r}: expected a positive length in kpc") from exc
    if isinstance(value, bool) or not (np.isfinite(v) and v > 0):
        raise ValueError(f"{what}={value!r}: expected a finite positive length in kpc")
    return v


def _as_shape(values, expected: tuple, name: str, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.shape != expected:
        raise ValueError(f"CRDensity: {name} has shape {arr.shape}, expected {what} = {expected}")
    return arr


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view (the caller's array stays writable)."""
    view = arr.view()
    view.flags.writeable = False
    return view


def _parallel_comm(comm):
    """The mpi4py form of ``comm`` when it spans more than one rank, else None."""
    if comm is None:
        return None
    if hasattr(comm, "tompi4py"):          # a PETSc.Comm
        comm = comm.tompi4py()
    if not callable(getattr(comm, "bcast", None)) or not callable(getattr(comm, "Get_size", None)):
        raise TypeError(f"CRDensity: comm={comm!r} is not an mpi4py (or PETSc) communicator")
    return comm if comm.Get_size() > 1 else None


def _file_layout(h5: h5py.File, path) -> str:
    """'general' or 'factorized'; checks the format attributes (absent: version 1 = /density)."""
    fmt = h5.attrs.get("format")
    if fmt is None:           # version 1
        if "density" not in h5 or "grid" not in h5:
            raise ValueError(f"{path}: not an fpgal CRDensity file (needs /grid and /density, or the root "
                             f"attribute format = {FORMAT!r})")
        return "general"
    if fmt != FORMAT:
        raise ValueError(f"{path}: root attribute format = {fmt!r}, expected {FORMAT!r}")
    version = int(h5.attrs.get("format_version", 0))
    if not 2 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path}: format_version = {version}; this fpgal reads versions 1 to {FORMAT_VERSION} "
                         "(a newer fpgal wrote it?)")
    layout = h5.attrs.get("layout", "general")
    needs = {"general": ("grid", "density"), "factorized": ("grid", "spatial", "energy_factor")}
    if layout not in needs:
        raise ValueError(f"{path}: layout = {layout!r}, expected one of {sorted(needs)}")
    missing = [name for name in needs[layout] if name not in h5]
    if missing:
        raise ValueError(f"{path}: {layout} CRDensity file without /{', /'.join(missing)}")
    return layout


def _trilinear(grid: Grid, data: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of ``data`` (nx, ny, nz, ...) at ``pts`` (N, 3) → (N, ...); zero outside."""
    from scipy.interpolate import RegularGridInterpolator
    axes = tuple(grid.centers_1d_kpc(a) for a in range(3))
    interp = RegularGridInterpolator(axes, data, bounds_error=False, fill_value=None)
    # clamp to the outermost cell centres (constant extrapolation inside the box)
    lo = np.array([a[0] for a in axes])
    hi = np.array([a[-1] for a in axes])
    vals = interp(np.clip(pts, lo, hi))
    vals[~grid.contains(pts)] = 0.0
    return vals


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
