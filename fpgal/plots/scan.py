"""Plots of `fpgal scan` (docs/scan.md): χ²(ε) per field model, the LHAASO-window intensities I(ε)/I(ε_ref)
per model, and (through :func:`fpgal.plots.maps.plot_ratio_map`) model-over-reference ratio maps."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .maps import _save  # noqa: E402


def _series(rows: Mapping[float, dict], key) -> tuple[np.ndarray, np.ndarray]:
    eps = np.array(sorted(rows), dtype=float)
    return eps, np.array([key(rows[e]) for e in eps], dtype=float)


def plot_chi2_epsilon(rows: Mapping[str, Mapping[float, dict]], preferred: Mapping[str, dict],
                      path: str | os.PathLike, title: str = "") -> Path:
    """χ²_inner + χ²_outer (LHAASO-KM2A) against ε, one line per model, the preferred ε and its Δχ² = 1
    interval as a star with a horizontal bar (a cross at the grid minimum when the ε grid does not resolve it)."""
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    for k, (model, by_eps) in enumerate(rows.items()):
        eps, chi2 = _series(by_eps, lambda r: r["chi2_lhaaso_inner"] + r["chi2_lhaaso_outer"])
        color = f"C{k % 10}"
        ax.plot(eps, chi2, "o-", ms=3, lw=1.3, color=color, label=model)
        p = preferred.get(model)
        if p and p.get("resolved", True) and np.isfinite(p["lo"]):
            ax.errorbar([p["best"]], [p["chi2_min"]], xerr=[[p["best"] - p["lo"]], [p["hi"] - p["best"]]],
                        fmt="*", ms=9, color=color, capsize=3)
        elif p:                                          # the ε grid does not resolve the minimum
            ax.plot([p["best"]], [chi2.min()], "x", ms=9, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\varepsilon = D_\perp / D_\parallel$")
    ax.set_ylabel(r"$\chi^2$ LHAASO-KM2A inner + outer")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_window_ratios(rows: Mapping[str, Mapping[float, dict]], eps_ref: float, path: str | os.PathLike,
                       title: str = "") -> Path:
    """E²I at 1 TeV in the LHAASO inner and outer windows relative to ε = ``eps_ref`` (1: isotropic), against
    ε, one line per model; the dotted line is the inner/outer ratio of the two (the paper's findings ii, iii)."""
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.2), sharex=True)
    for k, (model, by_eps) in enumerate(rows.items()):
        if eps_ref not in by_eps:
            continue
        ref = by_eps[eps_ref]
        for ax, key in zip(axes[:2], ("I_inner_1TeV", "I_outer_1TeV")):
            eps, I = _series(by_eps, lambda r, key=key: r[key] / ref[key])
            ax.plot(eps, I, "o-", ms=3, lw=1.3, color=f"C{k % 10}", label=model)
        eps, q = _series(by_eps, lambda r: (r["I_inner_1TeV"] / r["I_outer_1TeV"])
                         / (ref["I_inner_1TeV"] / ref["I_outer_1TeV"]))
        axes[2].plot(eps, q, "o-", ms=3, lw=1.3, color=f"C{k % 10}", label=model)
    labels = ("inner 15°<l<125°", "outer 125°<l<235°", "inner / outer")
    for ax, lab in zip(axes, labels):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel(r"$\varepsilon$")
        ax.set_title(f"{lab}, |b|<5°, 1 TeV", fontsize=9)
        ax.grid(True, which="both", alpha=0.2)
    axes[0].set_ylabel(rf"$I(\varepsilon) / I(\varepsilon = {eps_ref:g})$")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
