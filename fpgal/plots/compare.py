"""Plots of a solver comparison (see :func:`fpgal.analysis.compare.compare`): ratio maps, pulls,
local spectra. Inputs are plain arrays; files are written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from ..core import units
from ..core.files import atomic_path


def _save(fig, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_ratio_maps(grid, ratio: np.ndarray, mask: np.ndarray, E_GeV: float, path, labels=("grid", "sde")) -> Path:
    """Face-on (slice nearest z = 0) and edge-on (slice nearest y = 0) maps of n_other/n_ref; cells that are
    not well populated are hatched out (shown blank)."""
    iz = int(np.argmin(np.abs(grid.z_centers_kpc)))
    iy = int(np.argmin(np.abs(grid.y_centers_kpc)))
    r = np.where(mask, ratio, np.nan)
    finite = r[np.isfinite(r)]
    span = max(0.05, float(np.nanpercentile(np.abs(finite - 1.0), 98))) if finite.size else 0.1
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1.0 - span, vmax=1.0 + span)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw=dict(width_ratios=[1, 1.4]))
    ex, ey, ez = (grid.edges_kpc(a) for a in range(3))
    im = axes[0].pcolormesh(ex, ey, r[:, :, iz].T, cmap="RdBu_r", norm=norm)
    axes[0].set(xlabel="x [kpc]", ylabel="y [kpc]", aspect="equal",
                title=f"face-on, z = {grid.z_centers_kpc[iz]:.2f} kpc")
    axes[1].pcolormesh(ex, ez, r[:, iy, :].T, cmap="RdBu_r", norm=norm)
    axes[1].set(xlabel="x [kpc]", ylabel="z [kpc]", aspect="equal",
                title=f"edge-on, y = {grid.y_centers_kpc[iy]:.2f} kpc")
    fig.colorbar(im, ax=axes, label=f"n_{labels[1]} / n_{labels[0]}  (E = {E_GeV:.3g} GeV)", shrink=0.85)
    return _save(fig, path)


def plot_pull_histogram(pull: np.ndarray, mask: np.ndarray, path, labels=("grid", "sde")) -> Path:
    """Histogram of the pulls of well-populated cells with the unit normal for reference."""
    p = pull[mask]
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-6, 6, 61)
    if p.size:
        ax.hist(np.clip(p, -6, 6), bins=bins, density=True, histtype="step", lw=1.5,
                label=f"{p.size} cells, χ²/dof = {np.mean(p ** 2):.3f}")
    x = np.linspace(-6, 6, 300)
    ax.plot(x, np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0, 1)")
    ax.set(xlabel=f"pull (n_{labels[1]} − n_{labels[0]}) / σ", ylabel="density", yscale="log", ylim=(1e-4, 1))
    ax.legend()
    return _save(fig, path)


def plot_local_ratio(E_GeV, local_ref, local_other, local_other_err, path, labels=("grid", "sde"),
                     center_kpc=units.sun_position_kpc, radius_kpc: float = 0.5) -> Path:
    """Local spectra E² n(E) of both solutions and their ratio."""
    E = np.asarray(E_GeV)
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, gridspec_kw=dict(height_ratios=[2, 1]))
    a0.loglog(E, E ** 2 * local_ref, "k-", label=labels[0])
    a0.errorbar(E, E ** 2 * local_other, yerr=E ** 2 * local_other_err, fmt="o", ms=3, label=labels[1])
    a0.set(ylabel="E² n(E) [GeV cm⁻³]",
           title=f"sphere r = {radius_kpc:g} kpc at {tuple(round(v, 2) for v in center_kpc)} kpc")
    a0.legend()
    with np.errstate(divide="ignore", invalid="ignore"):
        rat = local_other / local_ref
        err = local_other_err / local_ref
    a1.errorbar(E, rat, yerr=err, fmt="o", ms=3)
    a1.axhline(1.0, color="k", lw=0.8)
    a1.set(xscale="log", xlabel="E [GeV]", ylabel=f"{labels[1]}/{labels[0]}")
    return _save(fig, path)
