"""Interstellar gas models: callables ``gas(xyz_kpc) -> n_H [cm⁻³]`` on (N, 3) galactocentric kpc.

Every model exposes its three hydrogen components as number densities in cm⁻³

* ``HI(xyz)``  — atomic hydrogen, atoms per cm³,
* ``H2(xyz)``  — molecular hydrogen, **molecules** per cm³,
* ``HII(xyz)`` — ionised hydrogen, protons per cm³,

and is called for the density of hydrogen nuclei (the pp target count; CRPropa's
"nucleon density")::

    n_H = n_HI + 2 n_H2 + n_HII                                                   [cm⁻³]

Helium is not part of the gas models: the emission stage adds it as a number fraction
``f_He = n_He / n_H`` (default 0.1), see :mod:`fpgal.emission.emissivity`.

Coordinates are galactocentric Cartesian kpc with the Sun on the negative x axis, z toward the
North Galactic Pole — the same frame CRPropa 3 uses for these models, so its reference values
(``<data>/gas/reference_values.txt``) are reproduced point by point.

Models
------
* :class:`NakanishiSofue` — HI: Nakanishi & Sofue, PASJ 55, 191 (2003); H2: PASJ 58, 847 (2006);
  axisymmetric fits, plane density × 0.5^((z/h)²) (h = half width at half maximum), as implemented
  in CRPropa 3 (``src/massDistribution/Nakanishi.cpp``, incl. the 1.06 factor on h).
* :class:`Ferriere` — Ferrière, A&A 467, 611 (2007) for R < 3 kpc (CMZ + tilted holed disk,
  HII warm/very-hot components) and Ferrière, RvMP 73, 1031 (2001) beyond (as in CRPropa 3,
  ``Ferriere.cpp``).
* :class:`Uniform` — constant density.
* :class:`GasCube` — a user 3-D cube (HDF5), trilinear interpolation, zero outside.
* :class:`Sum` — the sum of models (e.g. a cube for the inner Galaxy plus an analytic disk).

``gas_from_name(name, **kw)`` builds a model from its config name.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..core import units
from ..core.modelbase import Model
from ..core.points import as_points
from ..core.interp import trilinear
from ..core.registry import Registry

KPC_PC = 1.0e3
COMPONENTS = ("HI", "H2", "HII")
DENSITY_UNITS = "cm^-3"


# ------------------------------------------------------------------------------------ base
class GasModel(Model):
    """Base class: subclasses implement ``_HI``, ``_H2``, ``_HII`` on validated (N, 3) kpc points.

    Parameters
    ----------
    HI, H2, HII : switch a component on/off (off components return zeros).
    """

    def __init__(self, HI: bool = True, H2: bool = True, HII: bool = True):
        self.use = {"HI": bool(HI), "H2": bool(H2), "HII": bool(HII)}

    def parameters(self) -> dict:
        """The constructor arguments; the component arguments (``HI``, ``H2``, ``HII``, also the names of
        the density methods) are read from :meth:`_component_parameter`."""
        return {p.name: (self._component_parameter(p.name) if p.name in COMPONENTS else getattr(self, p.name))
                for p in self._signature()}

    def _component_parameter(self, component: str):
        """The value given for a component at construction: here its on/off switch."""
        return self.use[component]

    # component densities, cm^-3 ------------------------------------------------------------
    def HI(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Atomic hydrogen, atoms cm⁻³, shape (N,)."""
        xyz = as_points(xyz_kpc)
        return self._HI(xyz) if self.use["HI"] else np.zeros(len(xyz))

    def H2(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Molecular hydrogen, molecules cm⁻³, shape (N,)."""
        xyz = as_points(xyz_kpc)
        return self._H2(xyz) if self.use["H2"] else np.zeros(len(xyz))

    def HII(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Ionised hydrogen, protons cm⁻³, shape (N,)."""
        xyz = as_points(xyz_kpc)
        return self._HII(xyz) if self.use["HII"] else np.zeros(len(xyz))

    def components(self, xyz_kpc: np.ndarray) -> dict[str, np.ndarray]:
        """``{"HI": ..., "H2": ..., "HII": ...}`` in cm⁻³ (H2 in molecules)."""
        xyz = as_points(xyz_kpc)
        return {c: getattr(self, c)(xyz) for c in COMPONENTS}

    def n_H(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """Hydrogen nuclei n_H = n_HI + 2 n_H2 + n_HII [cm⁻³], shape (N,)."""
        xyz = as_points(xyz_kpc)
        return self.HI(xyz) + 2.0 * self.H2(xyz) + self.HII(xyz)

    def __call__(self, xyz_kpc: np.ndarray) -> np.ndarray:
        return self.n_H(xyz_kpc)

    # default: component absent
    def _HI(self, xyz: np.ndarray) -> np.ndarray:
        return np.zeros(len(xyz))

    _H2 = _HII = _HI


def _cyl(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(xyz[:, 0], xyz[:, 1]), xyz[:, 2]


# ------------------------------------------------------------------------------------ Nakanishi & Sofue
class NakanishiSofue(GasModel):
    """Nakanishi & Sofue (2003) HI and (2006) H2 — axisymmetric, no HII.

    With R, z in kpc and h in kpc (CRPropa 3 implementation, h is the half width at half maximum)::

        n_HI(R, z)  = 0.94 [0.6 e^{-R/2.4} + 0.24 e^{-((R-9.5)/4.8)²}] · 0.5^{(z/h_HI)²}    cm⁻³
        h_HI(R)     = 1.06e-3 (116.3 + 19.3 R + 4.1 R² - 0.05 R³)
        n_H2(R, z)  = 0.94 [11.2 e^{-R²/0.874} + 0.83 e^{-((R-4)/3.2)²}] · 0.5^{(z/h_H2)²}  cm⁻³
        h_H2(R)     = 1.06e-3 (10.8 e^{0.28 R} + 42.78)
    """

    def __init__(self, HI: bool = True, H2: bool = True):
        super().__init__(HI=HI, H2=H2, HII=False)

    @staticmethod
    def HI_scaleheight_kpc(R_kpc: np.ndarray) -> np.ndarray:
        R = np.asarray(R_kpc, dtype=float)
        return 1.06e-3 * (116.3 + 19.3 * R + 4.1 * R ** 2 - 0.05 * R ** 3)

    @staticmethod
    def HI_planedensity_cm3(R_kpc: np.ndarray) -> np.ndarray:
        R = np.asarray(R_kpc, dtype=float)
        return 0.94 * (0.6 * np.exp(-R / 2.4) + 0.24 * np.exp(-((R - 9.5) / 4.8) ** 2))

    @staticmethod
    def H2_scaleheight_kpc(R_kpc: np.ndarray) -> np.ndarray:
        R = np.asarray(R_kpc, dtype=float)
        return 1.06e-3 * (10.8 * np.exp(0.28 * R) + 42.78)

    @staticmethod
    def H2_planedensity_cm3(R_kpc: np.ndarray) -> np.ndarray:
        R = np.asarray(R_kpc, dtype=float)
        return 0.94 * (11.2 * np.exp(-R ** 2 / 0.874) + 0.83 * np.exp(-((R - 4.0) / 3.2) ** 2))

    def _HI(self, xyz):
        R, z = _cyl(xyz)
        return self.HI_planedensity_cm3(R) * 0.5 ** ((z / self.HI_scaleheight_kpc(R)) ** 2)

    def _H2(self, xyz):
        R, z = _cyl(xyz)
        return self.H2_planedensity_cm3(R) * 0.5 ** ((z / self.H2_scaleheight_kpc(R)) ** 2)


# ------------------------------------------------------------------------------------ Ferrière
class Ferriere(GasModel):
    """Ferrière et al. (2007) inner 3 kpc, Ferrière (2001) outside; all three components.

    Inner region (R < 3 kpc): the Central Molecular Zone (ellipse, centre offset (-50, 50) pc,
    tilted 70°) and the tilted "holed" disk (angles 13.5°, 20°, 48.5°) for HI and H2; warm (WIM)
    and very hot (VHIM) ionised gas for HII. Outer region: cold + warm HI with flaring beyond
    R_sun, the molecular ring for H2, warm + hot HII. Formulas as in CRPropa 3 ``Ferriere.cpp``,
    whose frame (Sun on −x) is ours; ``sun_distance_kpc`` (default 8.5) enters the outer-region
    normalisations (the model was fitted with R_sun = 8.5 kpc).
    """

    def __init__(self, HI: bool = True, H2: bool = True, HII: bool = True, sun_distance_kpc: float = units.sun_distance_kpc):
        super().__init__(HI=HI, H2=H2, HII=HII)
        if not (np.isfinite(sun_distance_kpc) and sun_distance_kpc > 3.0):
            raise ValueError(f"Ferriere: sun_distance_kpc={sun_distance_kpc!r}, expected a distance > 3 kpc")
        self.sun_distance_kpc = self.R_sun_kpc = float(sun_distance_kpc)

    # ------------------------------------------------------------- frames (pc)
    @staticmethod
    def cmz_frame_pc(xyz_kpc: np.ndarray) -> np.ndarray:
        """CMZ frame [pc]: flip x, y (Ferrière's Sun is on +x), shift by (-50, 50) pc, rotate by 70°."""
        xyz = np.asarray(xyz_kpc, dtype=float) * KPC_PC
        x, y = -xyz[:, 0] + 50.0, -xyz[:, 1] - 50.0
        c, s = np.cos(np.radians(70.0)), np.sin(np.radians(70.0))
        return np.stack([x * c + y * s, -x * s + y * c, xyz[:, 2]], axis=-1)

    @staticmethod
    def disk_frame_pc(xyz_kpc: np.ndarray) -> np.ndarray:
        """Frame of the tilted holed disk [pc] (rotations α = 13.5°, β = 20°, θ = 48.5°)."""
        xyz = np.asarray(xyz_kpc, dtype=float) * KPC_PC
        x, y, z = -xyz[:, 0], -xyz[:, 1], xyz[:, 2]
        sa, ca = np.sin(np.radians(13.5)), np.cos(np.radians(13.5))
        sb, cb = np.sin(np.radians(20.0)), np.cos(np.radians(20.0))
        st, ct = np.sin(np.radians(48.5)), np.cos(np.radians(48.5))
        xd = x * cb * ct - y * (sa * sb * ct - ca * st) - z * (ca * sb * ct + sa * st)
        yd = -x * cb * st + y * (sa * sb * st + ca * ct) + z * (ca * sb * st - sa * ct)
        zd = x * sb + y * sa * cb + z * ca * cb
        return np.stack([xd, yd, zd], axis=-1)

    @classmethod
    def _inner_cmz_disk(cls, xyz, n_cmz, h_cmz_pc, n_disk, h_disk_pc):
        p = cls.cmz_frame_pc(xyz)
        A = np.sqrt(p[:, 0] ** 2 + (2.5 * p[:, 1]) ** 2)
        cmz = n_cmz * np.exp(-((A - 125.0) / 137.0) ** 4) * np.exp(-(p[:, 2] / h_cmz_pc) ** 2)
        q = cls.disk_frame_pc(xyz)
        A = np.sqrt(q[:, 0] ** 2 + (3.1 * q[:, 1]) ** 2)
        disk = n_disk * np.exp(-((A - 1200.0) / 438.0) ** 4) * np.exp(-(q[:, 2] / h_disk_pc) ** 2)
        return cmz + disk

    @staticmethod
    def _inner_outer(xyz, inner: Callable, outer: Callable, R_split_kpc: float = 3.0) -> np.ndarray:
        """Ferrière's two regimes: ``inner(xyz, R, z)`` for R < 3 kpc, ``outer(xyz, R, z)`` beyond (kpc)."""
        R, z = _cyl(xyz)
        n = np.zeros(len(xyz))
        for sel, fn in ((R < R_split_kpc, inner), (R >= R_split_kpc, outer)):
            if sel.any():
                n[sel] = fn(xyz[sel], R[sel], z[sel])
        return n

    def _HI(self, xyz):
        def outer(_, R, z_kpc):
            z = z_kpc * KPC_PC
            a = np.where(R <= self.R_sun_kpc, 1.0, R / self.R_sun_kpc)
            cold = (0.859 * np.exp(-(z / (127.0 * a)) ** 2) + 0.047 * np.exp(-(z / (318.0 * a)) ** 2)
                    + 0.094 * np.exp(-np.abs(z) / (403.0 * a))) * 0.340 / a ** 2
            warm = ((1.745 - 1.289 / a) * np.exp(-(z / (127.0 * a)) ** 2)
                    + (0.473 - 0.070 / a) * np.exp(-(z / (318.0 * a)) ** 2)
                    + (0.283 - 0.142 / a) * np.exp(-np.abs(z) / (403.0 * a))) * 0.226 / a
            return cold + warm
        return self._inner_outer(xyz, lambda p, R, z: self._inner_cmz_disk(p, 8.8, 54.0, 0.34, 120.0), outer)

    def _H2(self, xyz):
        def outer(_, R, z_kpc):
            z, Rs = z_kpc * KPC_PC, self.R_sun_kpc
            return (0.58 * (R / Rs) ** -0.58
                    * np.exp(-((R - 4.5) ** 2 - (Rs - 4.5) ** 2) / 2.9 ** 2)
                    * np.exp(-(z / (81.0 * (R / Rs) ** 0.58)) ** 2))
        return self._inner_outer(xyz, lambda p, R, z: self._inner_cmz_disk(p, 150.0, 18.0, 4.8, 42.0), outer)

    def _HII(self, xyz):
        def inner(p, R, _):
            x, y, z = (p * KPC_PC).T
            Rpc = R * KPC_PC
            wim = np.exp(-(x ** 2 + (y + 10.0) ** 2) / 145.0 ** 2) * np.exp(-(z + 20.0) ** 2 / 26.0 ** 2)
            wim += 0.009 * np.exp(-((Rpc - 3700.0) / (0.5 * 3700.0)) ** 2) / np.cosh(z / 140.0) ** 2
            wim += 0.005 * np.cos(np.pi * Rpc * 0.5 / 17000.0) / np.cosh(z / 950.0) ** 2
            wim *= 8.0
            ca, sa = np.cos(np.radians(21.0)), np.sin(np.radians(21.0))
            eta, chi = y * ca + z * sa, -y * sa + z * ca
            vhim = 0.29 * np.exp(-((x ** 2 + eta ** 2) / 162.0 ** 2 + chi ** 2 / 90.0 ** 2))
            return wim + vhim

        def outer(_, R, z_kpc):
            z, Rs = np.abs(z_kpc), self.R_sun_kpc
            warm = (0.0237 * np.exp(-(R ** 2 - Rs ** 2) / 37.0 ** 2) * np.exp(-z / 1.0)
                    + 0.0013 * np.exp(-((R - 4.0) ** 2 - (Rs - 4.0) ** 2) / 2.0 ** 2) * np.exp(-z / 0.150))
            hot = (0.12 * np.exp(-(R - Rs) / 4.9) + 0.88 * np.exp(-((R - 4.5) ** 2 - (Rs - 4.5) ** 2) / 2.9 ** 2))
            hot *= (R / Rs) ** -1.65 * np.exp(-z / (1.5 * (R / Rs) ** 1.65)) * 4.8e-4
            return warm + hot
        return self._inner_outer(xyz, inner, outer)


# ------------------------------------------------------------------------------------ simple models
class Uniform(GasModel):
    """A uniform *gas model*: ``n_H_per_cm3`` hydrogen nuclei per cm³ everywhere, all in ``component``
    (default HI).

    Namesakes: :class:`fpgal.fields.Uniform` is a uniform magnetic field, :class:`fpgal.sources.Uniform`
    a uniform CR source density in a box.

    For ``component="H2"`` the molecule density is n_H/2, so that ``gas(x) == n_H_per_cm3`` always.
    """

    _not_parameters = ("n_H_cm3",)   # the earlier name of n_H_per_cm3

    def __init__(self, n_H_per_cm3: float = 1.0, component: str = "HI", *, n_H_cm3: float | None = None):
        if n_H_cm3 is not None:                # the earlier keyword, kept for user code
            n_H_per_cm3 = n_H_cm3
        n = float(n_H_per_cm3)
        if not (np.isfinite(n) and n >= 0):
            raise ValueError(f"Uniform gas: n_H_per_cm3={n_H_per_cm3!r}, expected a finite density >= 0 in cm^-3")
        if component not in COMPONENTS:
            raise ValueError(f"Uniform gas: component={component!r}, expected one of {COMPONENTS}")
        super().__init__(**{c: c == component for c in COMPONENTS})
        self.n_H_per_cm3 = n
        self.component = component

    def _const(self, xyz, comp):
        value = self.n_H_per_cm3 / (2.0 if comp == "H2" else 1.0)
        return np.full(len(xyz), value if comp == self.component else 0.0)

    def _HI(self, xyz):
        return self._const(xyz, "HI")

    def _H2(self, xyz):
        return self._const(xyz, "H2")

    def _HII(self, xyz):
        return self._const(xyz, "HII")


class Sum(GasModel):
    """Component-wise sum of gas models."""

    def __init__(self, *models: GasModel):
        if not models:
            raise ValueError("Sum gas model needs at least one model")
        super().__init__()
        self.models = tuple(models)

    def _HI(self, xyz):
        return sum(m.HI(xyz) for m in self.models)

    def _H2(self, xyz):
        return sum(m.H2(xyz) for m in self.models)

    def _HII(self, xyz):
        return sum(m.HII(xyz) for m in self.models)


# ------------------------------------------------------------------------------------ cube
class GasCube(GasModel):
    """A gas cube on a regular cell-centred grid; trilinear interpolation, zero outside the box.

    Parameters
    ----------
    lower_kpc, upper_kpc : box corners (3,) in kpc; the cube covers it with cells of equal size.
    HI, H2, HII : arrays (nx, ny, nz) in cm⁻³ (H2 in molecules) or None for an absent component.

    HDF5 layout (:meth:`load` / :meth:`save`): datasets ``x_edges``, ``y_edges``, ``z_edges`` [kpc]
    (uniform, n+1 values; the ``/grid`` group of an fpgal CRDensity file works too) and any of
    ``HI``, ``H2``, ``HII`` [cm⁻³], shape (nx, ny, nz).
    """

    def __init__(self, lower_kpc, upper_kpc, HI: np.ndarray | None = None, H2: np.ndarray | None = None,
                 HII: np.ndarray | None = None):
        arrays = {"HI": HI, "H2": H2, "HII": HII}
        present = {k: np.asarray(a, dtype=float) for k, a in arrays.items() if a is not None}
        if not present:
            raise ValueError("GasCube: give at least one of HI, H2, HII (arrays (nx, ny, nz) in cm^-3)")
        shapes = {a.shape for a in present.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"GasCube: component arrays must share one 3-D shape, got "
                             f"{ {k: a.shape for k, a in present.items()} }")
        for k, a in present.items():
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise ValueError(f"GasCube: component {k} has negative or non-finite densities")
        self.lower_kpc = np.asarray(lower_kpc, dtype=float).reshape(3)
        self.upper_kpc = np.asarray(upper_kpc, dtype=float).reshape(3)
        if np.any(self.upper_kpc <= self.lower_kpc):
            raise ValueError(f"GasCube: upper_kpc={self.upper_kpc.tolist()} must exceed "
                             f"lower_kpc={self.lower_kpc.tolist()} on every axis")
        self.shape = next(iter(shapes))
        self.spacing_kpc = (self.upper_kpc - self.lower_kpc) / np.array(self.shape)
        self.arrays = present
        super().__init__(**{c: c in present for c in COMPONENTS})

    def _component_parameter(self, component: str):
        return self.arrays.get(component)

    def _interp(self, comp, xyz):
        return trilinear(self.arrays[comp], self.lower_kpc, self.spacing_kpc, xyz, outside=0.0)

    def _HI(self, xyz):
        return self._interp("HI", xyz)

    def _H2(self, xyz):
        return self._interp("H2", xyz)

    def _HII(self, xyz):
        return self._interp("HII", xyz)

    @classmethod
    def from_model(cls, model: Callable, lower_kpc, upper_kpc, shape) -> "GasCube":
        """Sample a gas model at the cell centres of a box (handy for tests and for speed)."""
        lo, hi = np.asarray(lower_kpc, float), np.asarray(upper_kpc, float)
        h = (hi - lo) / np.array(shape)
        axes = [lo[a] + (np.arange(shape[a]) + 0.5) * h[a] for a in range(3)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        if isinstance(model, GasModel):
            comps = {c: getattr(model, c)(pts).reshape(shape) for c in COMPONENTS if model.use[c]}
        else:
            comps = {"HI": np.asarray(model(pts), float).reshape(shape)}
        return cls(lo, hi, **comps)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "GasCube":
        import h5py
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"GasCube: file {str(path)!r} not found")
        with h5py.File(path, "r") as h5:
            grp = h5["grid"] if "grid" in h5 and "x_edges" not in h5 else h5
            try:
                edges = [grp[f"{a}_edges"][...] for a in ("x", "y", "z")]
            except KeyError:
                raise ValueError(f"{path}: a GasCube file needs datasets x_edges, y_edges, z_edges [kpc]") from None
            for a, e in zip("xyz", edges):
                d = np.diff(e)
                if e.ndim != 1 or e.size < 2 or np.any(d <= 0) or not np.allclose(d, d[0], rtol=1e-6):
                    raise ValueError(f"{path}: {a}_edges must be uniformly spaced and increasing")
            comps = {c: h5[c][...] for c in COMPONENTS if c in h5}
            for c in comps:
                u = h5[c].attrs.get("units", DENSITY_UNITS)
                u = u.decode() if isinstance(u, bytes) else str(u)
                if u.replace(" ", "") not in ("cm^-3", "cm-3", "1/cm3", "cm**-3"):
                    raise ValueError(f"{path}: dataset {c} has units {u!r}, expected cm^-3")
        if not comps:
            raise ValueError(f"{path}: no gas component found (expected datasets HI, H2 and/or HII in cm^-3)")
        lo = [e[0] for e in edges]
        hi = [e[-1] for e in edges]
        return cls(lo, hi, **comps)

    def save(self, path: str | os.PathLike) -> Path:
        from ..core.files import atomic_h5, write_dataset
        with atomic_h5(path) as h5:
            for a, name in enumerate("xyz"):
                e = np.linspace(self.lower_kpc[a], self.upper_kpc[a], self.shape[a] + 1)
                write_dataset(h5, f"{name}_edges", e, "kpc", f"cell faces along {name}")
            for c, arr in self.arrays.items():
                what = "molecules" if c == "H2" else "atoms/ions"
                write_dataset(h5, c, arr, DENSITY_UNITS, f"{c} number density ({what}) at cell centres",
                              compression="gzip", compression_opts=1)
        return Path(path)

    def __repr__(self) -> str:
        return (f"GasCube({'x'.join(map(str, self.shape))} cells, {self.lower_kpc.tolist()}..{self.upper_kpc.tolist()}"
                f" kpc, components {sorted(self.arrays)})")


# ------------------------------------------------------------------------------------ registry
_GAS = Registry("gas model")


def register_gas(name: str, factory: Callable[..., GasModel]) -> None:
    """Make ``gas_from_name(name, **kw)`` call ``factory(**kw)`` (names are case-insensitive, ``_`` = ``-``,
    :mod:`fpgal.registry`)."""
    _GAS.register(name, factory)


def _nakanishi(sun_distance_kpc: float | None = None, **kw) -> GasModel:
    return NakanishiSofue(**kw)          # axisymmetric: independent of the Sun's position


def _ferriere(sun_distance_kpc: float | None = None, **kw) -> GasModel:
    return Ferriere(sun_distance_kpc=units.sun_distance_kpc if sun_distance_kpc is None else sun_distance_kpc, **kw)


def _uniform(sun_distance_kpc: float | None = None, n_H_per_cm3: float = 1.0, **kw) -> GasModel:
    return Uniform(n_H_per_cm3, **kw)


for _names, _factory in ((("nakanishi-sofue", "nakanishi", "nakanishisofue", "ns"), _nakanishi),
                         (("ferriere", "ferriere2007"), _ferriere),
                         (("uniform", "constant"), _uniform)):
    for _n in _names:
        register_gas(_n, _factory)


def gas_from_name(name: str, **kw) -> GasModel:
    """Build a gas model from its config name.

    Names: ``nakanishi-sofue``, ``ferriere``, ``uniform`` (keyword ``n_H_per_cm3``), ``cube:<file.h5>``
    (a :class:`GasCube` file), and ``a+b`` for the sum of two models. Keywords go to the factory;
    ``sun_distance_kpc`` is accepted by all built-ins (only Ferrière uses it).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"gas model name {name!r}: expected a non-empty string")
    key = name.strip()
    if key.lower().startswith("cube:"):
        return GasCube.load(key[5:])
    if "+" in key:
        return Sum(*(gas_from_name(part, **kw) for part in key.split("+")))
    return _GAS.factory(key, extra_names=("cube:<file.h5>", "a+b"))(**kw)


__all__ = ["GasModel", "NakanishiSofue", "Ferriere", "Uniform", "Sum", "GasCube", "trilinear",
           "gas_from_name", "register_gas", "COMPONENTS"]
