"""Field-line pictures of a magnetic-field model (like Fig. 1 of Dörner et al., ICRC2025).

Two panels: face-on (z = 0 plane, B_x/B_y streamlines) and edge-on (y = 0 plane, B_x/B_z
streamlines), each over a colour map of |B| in μG (logarithmic). The Sun is marked at
(−8.5, 0, 0) kpc unless told otherwise. Streamlines show only the in-plane components and are
left out where those carry less than 10 % of |B| (e.g. the azimuthal disk field seen edge-on).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core import units
from ..model.fields.base import FieldLike, evaluate_field

#: streamlines are drawn only where |B_in-plane| >= this fraction of |B|
IN_PLANE_MIN_FRACTION = 0.1


def _plane(field: FieldLike, u: np.ndarray, v: np.ndarray, plane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-plane components (arrays [len(v), len(u)]) and |B| on the plane 'xy' (z=0) or 'xz' (y=0)."""
    U, V = np.meshgrid(u, v)                      # rows: v, columns: u (the layout streamplot wants)
    pts = np.zeros((U.size, 3))
    pts[:, 0] = U.ravel()
    pts[:, 1 if plane == "xy" else 2] = V.ravel()
    B = evaluate_field(field, pts)
    bu = B[:, 0].reshape(U.shape)
    bv = B[:, 1 if plane == "xy" else 2].reshape(U.shape)
    return bu, bv, np.linalg.norm(B, axis=1).reshape(U.shape)


def plot_field(field: FieldLike, out_png: str | os.PathLike, title: str | None = None, extent_kpc: float = 20.0,
               z_extent_kpc: float = 10.0, n_points: int = 241, sun_kpc=units.sun_position_kpc,
               B_range_muG: tuple[float, float] | None = None, dpi: int = 130) -> Path:
    """Write a two-panel PNG (face-on z=0, edge-on y=0) of ``field``'s lines over |B|; returns the path."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from ..core.files import atomic_path

    if not (extent_kpc > 0 and z_extent_kpc > 0):
        raise ValueError(f"plot_field: extent_kpc={extent_kpc!r}, z_extent_kpc={z_extent_kpc!r} must be > 0")
    if int(n_points) < 10:
        raise ValueError(f"plot_field: n_points={n_points!r} must be >= 10")
    x = np.linspace(-extent_kpc, extent_kpc, int(n_points))
    z = np.linspace(-z_extent_kpc, z_extent_kpc, max(10, int(n_points * z_extent_kpc / extent_kpc)))
    face = _plane(field, x, x, "xy")
    edge = _plane(field, x, z, "xz")
    if B_range_muG is None:
        hi = max(float(face[2].max()), float(edge[2].max()), 1e-6)
        B_range_muG = (hi * 1e-3, hi)
    norm = LogNorm(vmin=B_range_muG[0], vmax=B_range_muG[1])

    fig, axes = plt.subplots(1, 2, figsize=(13.0, 5.4), layout="constrained")
    for ax, (u, v, (bu, bv, bm)), labels in ((axes[0], (x, x, face), ("x [kpc]", "y [kpc]")),
                                              (axes[1], (x, z, edge), ("x [kpc]", "z [kpc]"))):
        im = ax.pcolormesh(u, v, np.clip(bm, B_range_muG[0], None), norm=norm, cmap="viridis", shading="auto")
        # streamlines only where the in-plane part carries >= 10 % of |B| (else they trace noise)
        weak = np.hypot(bu, bv) < IN_PLANE_MIN_FRACTION * bm
        if np.any(~weak & (bm > 0)):
            ax.streamplot(u, v, np.ma.array(bu, mask=weak), np.ma.array(bv, mask=weak), color="white",
                          linewidth=0.6, density=1.6, arrowsize=0.7)
        ax.plot(sun_kpc[0], sun_kpc[1] if ax is axes[0] else sun_kpc[2], marker="*", color="orange",
                markersize=11, markeredgecolor="k", linestyle="none", label="Sun")
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_xlim(u[0], u[-1])
        ax.set_ylim(v[0], v[-1])
        ax.set_aspect("equal")
    axes[0].set_title("face-on, z = 0")
    axes[1].set_title("edge-on, y = 0")
    fig.colorbar(im, ax=axes, label="|B| [μG]", shrink=0.8)
    fig.suptitle(title if title is not None else repr(field))
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return out
