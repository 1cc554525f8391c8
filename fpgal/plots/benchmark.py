"""Figure of the CRPropa benchmark (docs/validation.md §1): residence-time histograms of several methods
on CRPropa's 0.5 kpc cells, compared with the first (the reference, usually the grid).

Panels: the reference's z-summed columns Σ_z N (s kpc⁻² per injected particle, log colour), the ratio
maps of the other methods to it, and the column ratio averaged over annuli of galactocentric radius with
its error (SDE: the per-cell 1σ summed linearly along z — an upper bound, the cells of a column share
particles — then combined over the annulus as independent columns), plus the Sun's 1-kpc cube.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: annuli of galactocentric radius [kpc] for the radial profile
R_EDGES_KPC = (0.0, 3.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)


def annulus_ratios(hist: np.ndarray, ref: np.ndarray, err: np.ndarray | None, edges_kpc,
                   R_edges_kpc=R_EDGES_KPC) -> tuple[np.ndarray, np.ndarray]:
    """Ratio of the annulus sums of the z-summed columns of ``hist`` to ``ref``, and its 1σ (from ``err``)."""
    xc = 0.5 * (edges_kpc[0][1:] + edges_kpc[0][:-1])
    yc = 0.5 * (edges_kpc[1][1:] + edges_kpc[1][:-1])
    R = np.hypot(xc[:, None], yc[None, :])
    col, col_ref = hist.sum(axis=2), ref.sum(axis=2)
    col_err = None if err is None else err.sum(axis=2)
    ratio, sigma = [], []
    for a, b in zip(R_edges_kpc[:-1], R_edges_kpc[1:]):
        m = (R >= a) & (R < b)
        ratio.append(col[m].sum() / col_ref[m].sum())
        sigma.append(np.nan if col_err is None else np.sqrt((col_err[m] ** 2).sum()) / col_ref[m].sum())
    return np.array(ratio), np.array(sigma)


def plot_benchmark(runs: dict, edges_kpc, out_png: str | Path, title: str = "",
                   sun_cubes: dict | None = None) -> Path:
    """``runs``: {label: (hist (nx, ny, nz) s per cell, 1σ or None)}, the first is the reference.
    ``sun_cubes``: {label: (value, 1σ or None)} in s kpc⁻³ per particle. Writes ``out_png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    labels = list(runs)
    ref = runs[labels[0]][0]
    n_maps = len(labels)
    fig, axes = plt.subplots(1, n_maps + 1, figsize=(4.2 * (n_maps + 1), 4.0))
    ext = [edges_kpc[0][0], edges_kpc[0][-1], edges_kpc[1][0], edges_kpc[1][-1]]
    area = np.diff(edges_kpc[0])[0] * np.diff(edges_kpc[1])[0]
    col_ref = ref.sum(axis=2) / area
    im = axes[0].imshow(col_ref.T, origin="lower", extent=ext, norm=LogNorm(vmin=col_ref.max() * 1e-3))
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="Σ_z N [s kpc⁻² per particle]")
    axes[0].set_title(labels[0])
    for ax, label in zip(axes[1:n_maps], labels[1:]):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = runs[label][0].sum(axis=2) / ref.sum(axis=2)
        im = ax.imshow(r.T, origin="lower", extent=ext, cmap="RdBu_r", vmin=0.5, vmax=1.5)
        fig.colorbar(im, ax=ax, shrink=0.8, label=f"columns / {labels[0]}")
        ax.set_title(label)
    for ax in axes[:n_maps]:
        ax.set_xlabel("x [kpc]")
        ax.set_ylabel("y [kpc]")
        ax.plot([-8.5], [0.0], marker="*", color="k", ms=9)
    ax = axes[-1]
    mid = 0.5 * (np.array(R_EDGES_KPC[1:]) + np.array(R_EDGES_KPC[:-1]))
    for k, label in enumerate(labels[1:]):
        hist, err = runs[label]
        ratio, sig = annulus_ratios(hist, ref, err, edges_kpc)
        ax.errorbar(mid + 0.15 * k, ratio, yerr=sig, fmt="o", capsize=3, label=label)
        if sun_cubes and label in sun_cubes:
            v, e = sun_cubes[label]
            v0 = sun_cubes[labels[0]][0]
            ax.errorbar([8.5 + 0.15 * k], [v / v0], yerr=[(e or 0.0) / v0], fmt="*", ms=11, color=f"C{k}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlabel("R [kpc] (stars: the Sun's 1-kpc cube)")
    ax.set_ylabel(f"annulus columns / {labels[0]}")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    from ..core.files import atomic_path
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out
