"""A magnetic field tabulated on the nodes of a rectilinear grid, trilinearly interpolated.

File format (HDF5, written atomically with :func:`fpgal.files.atomic_h5`)::

    /x_kpc, /y_kpc, /z_kpc   node coordinates, strictly increasing   (units "kpc")
    /B_muG                   (nx, ny, nz, 3) field on the nodes       (units "muG")
    attrs: kind = "fpgal.fields.Gridded", source = repr of the sampled field, outside = policy
    /provenance              fpgal and library versions, date, command line
"""
from __future__ import annotations

import os
import numpy as np

from .base import Field, FieldLike

OUTSIDE_POLICIES = ("zero", "error")


def _axis(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
        raise ValueError(f"Gridded: axis {name} must be a 1-D strictly increasing finite array of >= 2 nodes [kpc], "
                         f"got shape {a.shape}")
    return a


class Gridded(Field):
    """Field sampled on nodes ``(x_kpc[i], y_kpc[j], z_kpc[k])``; trilinear interpolation in between.

    Trilinear interpolation reproduces any field that is linear in each coordinate separately
    (e.g. B = A·x + c) exactly. Outside the node box the field is zero (``outside="zero"``) or a
    ``ValueError`` naming the first offending point is raised (``outside="error"``).
    """

    def __init__(self, x_kpc, y_kpc, z_kpc, B_muG, outside: str = "zero", source: str = ""):
        self.axes = (_axis("x_kpc", x_kpc), _axis("y_kpc", y_kpc), _axis("z_kpc", z_kpc))
        shape = tuple(a.size for a in self.axes) + (3,)
        B = np.asarray(B_muG, dtype=float)
        if B.shape != shape:
            raise ValueError(f"Gridded: B_muG has shape {B.shape}, expected {shape} (nx, ny, nz, 3) in μG")
        if not np.all(np.isfinite(B)):
            raise ValueError("Gridded: B_muG contains NaN or inf")
        if outside not in OUTSIDE_POLICIES:
            raise ValueError(f"Gridded: outside={outside!r}; expected one of {OUTSIDE_POLICIES}")
        self.B_muG = B
        self.outside = outside
        self.source = source

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_field(cls, field: FieldLike, grid_or_axes, outside: str = "zero",
                   chunk_points: int = 1 << 20) -> "Gridded":
        """Sample ``field`` on the corners of a :class:`fpgal.grid.Grid` or on explicit node axes.

        ``grid_or_axes``: a Grid (its cell corners become the nodes, so the table covers the whole
        box) or a sequence of three 1-D node arrays ``(x_kpc, y_kpc, z_kpc)``.
        """
        from ...core.grid import Grid
        if isinstance(grid_or_axes, Grid):
            axes = tuple(grid_or_axes.edges_kpc(a) for a in range(3))
        else:
            try:
                x, y, z = grid_or_axes
            except (TypeError, ValueError):
                raise ValueError("Gridded.from_field: grid_or_axes must be a fpgal Grid or (x_kpc, y_kpc, z_kpc) "
                                 f"node arrays, got {type(grid_or_axes).__name__}") from None
            axes = (_axis("x_kpc", x), _axis("y_kpc", y), _axis("z_kpc", z))
        from .sampling import sample_on_axes
        B = sample_on_axes(field, *axes, chunk_points=chunk_points)
        return cls(*axes, B, outside=outside, source=repr(field))

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        idx, frac, inside = [], [], np.ones(len(xyz), dtype=bool)
        for d, a in enumerate(self.axes):
            u = xyz[:, d]
            inside &= (u >= a[0]) & (u <= a[-1])
            i = np.clip(np.searchsorted(a, u, side="right") - 1, 0, a.size - 2)
            t = np.clip((u - a[i]) / (a[i + 1] - a[i]), 0.0, 1.0)
            idx.append(i)
            frac.append(t)
        if self.outside == "error" and not inside.all():
            k = int(np.flatnonzero(~inside)[0])
            lo = [a[0] for a in self.axes]
            hi = [a[-1] for a in self.axes]
            raise ValueError(f"Gridded: {int((~inside).sum())} point(s) outside the tabulated box {lo}..{hi} kpc, "
                             f"first at xyz_kpc={xyz[k].tolist()}")
        (i, j, k), (tx, ty, tz) = idx, frac
        B = self.B_muG
        out = np.zeros((len(xyz), 3))
        for di in (0, 1):
            wx = tx if di else 1.0 - tx
            for dj in (0, 1):
                wy = ty if dj else 1.0 - ty
                for dk in (0, 1):
                    wz = tz if dk else 1.0 - tz
                    out += (wx * wy * wz)[:, None] * B[i + di, j + dj, k + dk]
        out[~inside] = 0.0
        return out

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike, config_text: str = "") -> None:
        """Write the table to HDF5 atomically (datasets with ``units`` attributes, provenance)."""
        from ...core.files import atomic_h5, write_dataset
        with atomic_h5(path, config_text=config_text) as h5:
            for name, a in zip(("x_kpc", "y_kpc", "z_kpc"), self.axes):
                write_dataset(h5, name, a, units="kpc", description=f"node coordinates along {name[0]}")
            write_dataset(h5, "B_muG", self.B_muG, units="muG",
                          description="magnetic field on the nodes, shape (nx, ny, nz, 3), Cartesian components")
            h5.attrs["kind"] = "fpgal.fields.Gridded"
            h5.attrs["source"] = self.source
            h5.attrs["outside"] = self.outside

    @classmethod
    def load(cls, path: str | os.PathLike, outside: str | None = None) -> "Gridded":
        """Read a table written by :meth:`save` (checks datasets and their units)."""
        import h5py
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Gridded.load: no such file {str(path)!r}")
        with h5py.File(path, "r") as h5:
            expected = {"x_kpc": "kpc", "y_kpc": "kpc", "z_kpc": "kpc", "B_muG": "muG"}
            for name, unit in expected.items():
                if name not in h5:
                    raise ValueError(f"Gridded.load: {str(path)!r} lacks dataset {name!r} "
                                     f"(expected {sorted(expected)})")
                got = h5[name].attrs.get("units", "")
                if isinstance(got, bytes):
                    got = got.decode()
                if got != unit:
                    raise ValueError(f"Gridded.load: dataset {name!r} in {str(path)!r} has units {got!r}, "
                                     f"expected {unit!r}")
            data = {n: h5[n][()] for n in expected}
            src = h5.attrs.get("source", "")
            pol = h5.attrs.get("outside", "zero")
        src = src.decode() if isinstance(src, bytes) else str(src)
        pol = pol.decode() if isinstance(pol, bytes) else str(pol)
        return cls(data["x_kpc"], data["y_kpc"], data["z_kpc"], data["B_muG"], outside=outside or pol, source=src)

    def __repr__(self) -> str:
        shape = "x".join(str(a.size) for a in self.axes)
        box = ", ".join(f"[{a[0]:g}, {a[-1]:g}]" for a in self.axes)
        src = f", source={self.source!r}" if self.source else ""
        return f"Gridded({shape} nodes in {box} kpc, outside={self.outside!r}{src})"
