"""Face-on (z = 0) and edge-on (y = 0) slices of a CR density and its local spectrum."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from ..core import units
from ..core.files import atomic_path
from ..result import CRDensity
from ..model.spectra import intensity_per_density


def plot_cr(cr: CRDensity, out: str | Path, energy_GeV: float = 1000.0, sun_kpc=units.sun_position_kpc,
            title: str = "") -> Path:
    """Three panels: n(x, y, z≈0), n(x, y≈0, z) at the grid energy nearest ``energy_GeV``, and E^2.7 J(E) at the Sun."""
    g = cr.grid
    iE = int(np.argmin(np.abs(np.log(g.E_GeV / energy_GeV))))
    n = cr.density[iE]
    iz = int(np.argmin(np.abs(g.z_centers_kpc)))
    iy = int(np.argmin(np.abs(g.y_centers_kpc)))
    positive = n[n > 0]
    vmax = positive.max() if positive.size else 1.0
    norm = LogNorm(vmin=vmax * 1e-4, vmax=vmax)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw=dict(width_ratios=[1, 1.6, 1]))
    ex, ey, ez = (g.edges_kpc(a) for a in range(3))
    im = axes[0].pcolormesh(ex, ey, np.where(n[:, :, iz] > 0, n[:, :, iz], np.nan).T, norm=norm, cmap="viridis")
    axes[0].plot(*sun_kpc[:2], "r*", ms=10)
    axes[0].set(xlabel="x [kpc]", ylabel="y [kpc]", aspect="equal", title=f"face-on, z = {g.z_centers_kpc[iz]:.2f} kpc")
    axes[1].pcolormesh(ex, ez, np.where(n[:, iy, :] > 0, n[:, iy, :], np.nan).T, norm=norm, cmap="viridis")
    axes[1].set(xlabel="x [kpc]", ylabel="z [kpc]", title=f"edge-on, y = {g.y_centers_kpc[iy]:.2f} kpc")
    fig.colorbar(im, ax=axes[:2], label=f"n(E = {g.E_GeV[iE]:.3g} GeV) [GeV$^{{-1}}$ cm$^{{-3}}$]", shrink=0.9)
    try:
        loc = cr.local_spectrum(center_kpc=sun_kpc, radius_kpc=0.1)
        J = intensity_per_density(g.E_GeV, cr.mass_GeV) * loc * units.m_cm ** 2  # per m² instead of per cm²
        axes[2].loglog(g.E_GeV, g.E_GeV ** 2.7 * J, "k.-")
    except ValueError as exc:
        axes[2].text(0.1, 0.5, str(exc), wrap=True, transform=axes[2].transAxes)
    axes[2].set(xlabel="E [GeV]", ylabel=r"$E^{2.7} J$ [GeV$^{1.7}$ m$^{-2}$ s$^{-1}$ sr$^{-1}$]",
                title="local spectrum (r < 0.1 kpc)")
    if title:
        fig.suptitle(title)
    out = Path(out)
    try:
        # a unique temporary name (fpgal.files.atomic_path), renamed into place: two processes writing the
        # same PNG at once (e.g. MPI ranks) each write their own file and the last rename wins
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format=(out.suffix.lstrip(".") or "png").lower())
    finally:
        plt.close(fig)
    return out


def plot_cr_file(path: str | Path, energy_GeV: float = 1000.0, out: str | Path | None = None) -> Path:
    path = Path(path)
    cr = CRDensity.load(path)
    return plot_cr(cr, out or path.with_suffix(".png"), energy_GeV, title=path.name)
