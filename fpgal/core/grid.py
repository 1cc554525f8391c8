"""The computational grid: a cell-centred Cartesian box in galactocentric kpc plus an energy axis.

Coordinates are galactocentric Cartesian, kpc, right-handed, Sun on the negative x axis
(the Sun's position: :data:`fpgal.units.sun_position_kpc`). Spatial arrays are indexed ``[ix, iy, iz]`` (numpy C order, z
fastest); CR densities add a leading energy axis, ``[iE, ix, iy, iz]``.

Named meshes live in ``meshes/*.toml`` at the repository root (``fpgal/meshes`` links there, so wheels carry them)::

    name = "milkyway-0.5kpc"
    description = "..."
    [space]
    x_kpc = [-20.0, 20.0, 80]     # lo, hi, number of cells
    y_kpc = [-20.0, 20.0, 80]
    z_kpc = [-4.0, 4.0, 16]
    [energy]                      # kinetic energy per particle, log-spaced cell centres
    E_min_GeV = 10.0
    E_max_GeV = 1.0e7
    n_E = 25
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import units

MESH_DIR = Path(__file__).resolve().parents[1] / "meshes"   # fpgal/meshes: a link to the repository's meshes/ (a folder in wheels)

Axis = tuple[float, float, int]


def _check_axis(name: str, axis: Sequence[Any]) -> Axis:
    try:
        lo, hi, n = axis
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"Grid axis {name}={axis!r}: expected (lo_kpc, hi_kpc, n_cells)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"Grid axis {name}={axis!r}: expected finite lo < hi")
    if int(n) != n or int(n) < 1:
        raise ValueError(f"Grid axis {name}={axis!r}: number of cells must be a positive integer, got {n!r}")
    return (lo, hi, int(n))


def log_energy_axis(E_min_GeV: float, E_max_GeV: float, n_E: int) -> np.ndarray:
    """``n_E`` log-spaced energies from ``E_min_GeV`` to ``E_max_GeV`` inclusive [GeV]."""
    if not (0 < E_min_GeV <= E_max_GeV) or n_E < 1:
        raise ValueError(f"energy axis E_min_GeV={E_min_GeV}, E_max_GeV={E_max_GeV}, n_E={n_E}: "
                         "expected 0 < E_min_GeV <= E_max_GeV and n_E >= 1")
    if n_E == 1:
        return np.array([float(E_min_GeV)])
    return np.geomspace(E_min_GeV, E_max_GeV, int(n_E))


@dataclass(frozen=True, eq=False)
class Grid:
    """Cell-centred box ``[x_lo, x_hi] × [y_lo, y_hi] × [z_lo, z_hi]`` (kpc) with energies ``E_GeV``.

    Parameters
    ----------
    x_kpc, y_kpc, z_kpc : (lo, hi, n_cells)
    E_GeV : 1-D array of (kinetic) energies per nucleon-particle in GeV, strictly increasing.
    name : optional mesh name, kept for provenance.
    """

    x_kpc: Axis
    y_kpc: Axis
    z_kpc: Axis
    E_GeV: np.ndarray = field(default_factory=lambda: np.array([1000.0]))
    name: str = ""

    def __post_init__(self) -> None:
        for ax in ("x_kpc", "y_kpc", "z_kpc"):
            object.__setattr__(self, ax, _check_axis(ax, getattr(self, ax)))
        E = np.atleast_1d(np.asarray(self.E_GeV, dtype=float)).copy()
        if E.ndim != 1 or E.size < 1 or not np.all(np.isfinite(E)) or np.any(E <= 0):
            raise ValueError(f"Grid E_GeV={self.E_GeV!r}: expected a 1-D array of positive finite energies")
        if E.size > 1 and np.any(np.diff(E) <= 0):
            raise ValueError("Grid E_GeV must be strictly increasing")
        E.setflags(write=False)
        object.__setattr__(self, "E_GeV", E)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_mesh(cls, name_or_path: str | Path) -> "Grid":
        """Load a named mesh from ``meshes/`` (e.g. ``"milkyway-0.25kpc"``) or a TOML file path."""
        path = Path(name_or_path)
        if path.suffix != ".toml" and "/" not in str(name_or_path):
            path = MESH_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in MESH_DIR.glob("*.toml"))
            raise FileNotFoundError(f"mesh {str(name_or_path)!r} not found (looked for {path}); "
                                    f"known meshes: {', '.join(known)}")
        with open(path, "rb") as fh:
            spec = tomllib.load(fh)
        return cls.from_dict(spec, name=spec.get("name", path.stem))

    @classmethod
    def from_dict(cls, spec: dict, name: str = "") -> "Grid":
        """Build from a mesh dictionary (the TOML layout documented in the module docstring)."""
        allowed = {"name", "description", "space", "energy"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"mesh: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        space = spec.get("space", {})
        energy = spec.get("energy", {})
        for key in ("x_kpc", "y_kpc", "z_kpc"):
            if key not in space:
                raise ValueError(f"mesh [space] lacks {key!r} = [lo, hi, n]")
        if "E_GeV" in energy:
            E = np.asarray(energy["E_GeV"], dtype=float)
        else:
            E = log_energy_axis(float(energy.get("E_min_GeV", 10.0)), float(energy.get("E_max_GeV", 1.0e7)),
                                int(energy.get("n_E", 25)))
        return cls(tuple(space["x_kpc"]), tuple(space["y_kpc"]), tuple(space["z_kpc"]), E,
                   name=name or spec.get("name", ""))

    def to_dict(self) -> dict:
        return {"name": self.name,
                "space": {"x_kpc": list(self.x_kpc), "y_kpc": list(self.y_kpc), "z_kpc": list(self.z_kpc)},
                "energy": {"E_GeV": self.E_GeV.tolist()}}

    def with_energies(self, E_GeV: np.ndarray) -> "Grid":
        """Same spatial box with another energy axis."""
        return Grid(self.x_kpc, self.y_kpc, self.z_kpc, E_GeV, name=self.name)

    # ---------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (nx, ny, nz)."""
        return (self.x_kpc[2], self.y_kpc[2], self.z_kpc[2])

    @property
    def n_cells(self) -> int:
        nx, ny, nz = self.shape
        return nx * ny * nz

    @property
    def n_E(self) -> int:
        return self.E_GeV.size

    @property
    def lower_kpc(self) -> np.ndarray:
        return np.array([self.x_kpc[0], self.y_kpc[0], self.z_kpc[0]])

    @property
    def upper_kpc(self) -> np.ndarray:
        return np.array([self.x_kpc[1], self.y_kpc[1], self.z_kpc[1]])

    @property
    def spacing_kpc(self) -> np.ndarray:
        """Cell size (dx, dy, dz) in kpc."""
        return (self.upper_kpc - self.lower_kpc) / np.array(self.shape)

    @property
    def cell_volume_kpc3(self) -> float:
        return float(np.prod(self.spacing_kpc))

    @property
    def cell_volume_cm3(self) -> float:
        return self.cell_volume_kpc3 * units.kpc_cm ** 3

    def edges_kpc(self, axis: int) -> np.ndarray:
        """Cell faces along ``axis`` (0, 1, 2), n+1 values in kpc."""
        lo, hi, n = (self.x_kpc, self.y_kpc, self.z_kpc)[axis]
        return np.linspace(lo, hi, n + 1)

    def centers_1d_kpc(self, axis: int) -> np.ndarray:
        """Cell centres along ``axis``, n values in kpc."""
        e = self.edges_kpc(axis)
        return 0.5 * (e[1:] + e[:-1])

    @property
    def x_centers_kpc(self) -> np.ndarray:
        return self.centers_1d_kpc(0)

    @property
    def y_centers_kpc(self) -> np.ndarray:
        return self.centers_1d_kpc(1)

    @property
    def z_centers_kpc(self) -> np.ndarray:
        return self.centers_1d_kpc(2)

    def cell_centers_kpc(self) -> np.ndarray:
        """Cell centres, shape (nx, ny, nz, 3), kpc."""
        return np.stack(np.meshgrid(*(self.centers_1d_kpc(a) for a in range(3)), indexing="ij"), axis=-1)

    def cell_corners_kpc(self) -> np.ndarray:
        """Cell corners (vertices), shape (nx+1, ny+1, nz+1, 3), kpc."""
        return np.stack(np.meshgrid(*(self.edges_kpc(a) for a in range(3)), indexing="ij"), axis=-1)

    def contains(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Boolean mask: points (N, 3) inside the closed box."""
        xyz = np.asarray(xyz_kpc, dtype=float)
        return np.all((xyz >= self.lower_kpc) & (xyz <= self.upper_kpc), axis=-1)

    def cell_index(self, xyz_kpc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer cell indices (N, 3) of points and a mask of points inside the box."""
        xyz = np.asarray(xyz_kpc, dtype=float)
        idx = np.floor((xyz - self.lower_kpc) / self.spacing_kpc).astype(np.int64)
        inside = self.contains(xyz)
        idx = np.clip(idx, 0, np.array(self.shape) - 1)
        return idx, inside

    def __repr__(self) -> str:
        nx, ny, nz = self.shape
        dx, dy, dz = self.spacing_kpc
        E = self.E_GeV
        tag = f"{self.name!r}, " if self.name else ""
        return (f"Grid({tag}{nx}x{ny}x{nz} cells of {dx:g}x{dy:g}x{dz:g} kpc, "
                f"x={self.x_kpc[:2]}, y={self.y_kpc[:2]}, z={self.z_kpc[:2]}, "
                f"{E.size} energies {E[0]:g}-{E[-1]:g} GeV)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return (self.x_kpc == other.x_kpc and self.y_kpc == other.y_kpc and self.z_kpc == other.z_kpc
                and self.E_GeV.shape == other.E_GeV.shape and bool(np.allclose(self.E_GeV, other.E_GeV, rtol=1e-12)))

    def same_space(self, other: "Grid") -> bool:
        return self.x_kpc == other.x_kpc and self.y_kpc == other.y_kpc and self.z_kpc == other.z_kpc
