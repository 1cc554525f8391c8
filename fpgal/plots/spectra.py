"""Local proton spectrum: data and fitted models (Dörner et al. ICRC2025, Fig. 2).

Plots E^2.7 J(E) against kinetic energy E: every data set with its total (stat ⊕ sys) error bars and
its own marker, and model curves (e.g. one per anisotropy ε) whose legend entries carry χ²/dof.

>>> from fpgal.plots.spectra import plot_local_spectrum, curves_from_fits
>>> fig = plot_local_spectrum(data, curves_from_fits({"ε = 0.1": fit01, "ε = 0.01": fit001}),
...                           path="out/local_spectrum.png", E_window_GeV=(10, 3e6))
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..analysis.crdata import FLUX_UNITS, CRData

MARKERS = ("o", "s", "^", "v", "D", "<", ">", "p", "h", "*", "X", "P", "d", "8")
LINESTYLES = ("-", "--", "-.", ":")
Curve = tuple[str, np.ndarray, np.ndarray]


def curves_from_fits(fits: Mapping[str, object], n_E: int = 300) -> list[tuple[str, np.ndarray, np.ndarray, object]]:
    """(label, E_GeV, J_model [GeV⁻¹ m⁻² s⁻¹ sr⁻¹], fit) for each FitResult, over its grid energy range."""
    out = []
    for label, fit in fits.items():
        lo, hi = fit.basis.E_range_GeV
        E = np.geomspace(lo, hi / (1.0 + 1e-9) - abs(getattr(fit.basis, "Z", 1)) * fit.phi_GV, n_E)
        out.append((label, E, fit.model_flux(E), fit))
    return out


def plot_local_spectrum(data: Mapping[str, CRData] | Iterable[CRData],
                        curves: Sequence[Curve | tuple[str, np.ndarray, np.ndarray, object]] = (),
                        path: str | os.PathLike | None = None, *, weight: float = 2.7,
                        E_window_GeV: tuple[float, float] | None = None, E_range_GeV: tuple[float, float] | None = None,
                        title: str = "", dpi: int = 150, bands: bool = False):
    """Fig. 2-like plot of E^weight J(E); returns the matplotlib Figure (written to ``path`` if given).

    Parameters
    ----------
    data : CRData sets (dict or list); flux in GeV⁻¹ m⁻² s⁻¹ sr⁻¹
    curves : ``(label, E_GeV, J_model)`` with J_model in GeV⁻¹ m⁻² s⁻¹ sr⁻¹, optionally a 4th item, a
        FitResult (or anything with ``chi2`` and ``dof``), whose χ²/dof is added to the label
    path : output image (PNG, PDF, …, by suffix), written atomically
    weight : the power of E multiplying the flux (2.7 as in the paper)
    E_window_GeV : fit window, the energies outside are shaded
    E_range_GeV : x-axis limits (default: the data's range)
    bands : shade each curve's 1σ band when its 4th item is a FitResult (``FitResult.model_band``)
    """
    sets = list(data.values()) if isinstance(data, Mapping) else list(data)
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    _draw_data(ax, sets, weight)
    _draw_curves(ax, curves, weight, bands)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _set_energy_axis(ax, sets, E_range_GeV, E_window_GeV)
    unit = FLUX_UNITS.replace("GeV^-1", f"GeV^{weight - 1:g}")
    ax.set_xlabel("kinetic energy E [GeV]")
    ax.set_ylabel(f"E^{weight:g} J(E) [{unit}]")
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="best", frameon=False)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _draw_data(ax, sets: Sequence[CRData], weight: float) -> None:
    """E^weight J of each non-empty data set with its total (stat⊕sys) error bars, one marker per set."""
    for k, d in enumerate(sets):
        if not d.n:
            continue
        wE = d.E_GeV ** weight
        ax.errorbar(d.E_GeV, d.J * wE, yerr=[d.total_lo * wE, d.total_hi * wE], fmt=MARKERS[k % len(MARKERS)],
                    ms=3.5, lw=0.8, capsize=0, mfc="none" if k >= len(MARKERS) else None, label=d.experiment)


def _draw_curves(ax, curves: Sequence, weight: float, bands: bool) -> None:
    """E^weight J_model of each curve, labelled with χ²/dof when its 4th item has one, and its 1σ band
    (``model_band``) when ``bands``."""
    colors = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, max(len(curves), 1)))
    for i, c in enumerate(curves):
        label, E, J = c[0], np.asarray(c[1], dtype=float), np.asarray(c[2], dtype=float)
        if len(c) > 3 and c[3] is not None and hasattr(c[3], "chi2"):
            label = f"{label}  (χ²/dof = {c[3].chi2:.1f}/{c[3].dof})"
        ax.plot(E, J * E ** weight, lw=1.8, color=colors[i], ls=LINESTYLES[i % len(LINESTYLES)], zorder=5,
                label=label)
        if bands and len(c) > 3 and hasattr(c[3], "model_band"):
            lo, hi = c[3].model_band(E)
            ax.fill_between(E, lo * E ** weight, hi * E ** weight, color=colors[i], alpha=0.25, lw=0, zorder=4)


def _set_energy_axis(ax, sets: Sequence[CRData], E_range_GeV, E_window_GeV) -> None:
    """x limits (default: the data's range widened by 1.5 each side) and grey shading outside the fit window."""
    if E_range_GeV is None and sets:
        E_all = np.concatenate([d.E_GeV for d in sets if d.n] or [np.array([10.0, 1e7])])
        E_range_GeV = (E_all.min() / 1.5, E_all.max() * 1.5)
    if E_range_GeV is not None:
        ax.set_xlim(*E_range_GeV)
    if E_window_GeV is not None:
        x0, x1 = ax.get_xlim()
        if E_window_GeV[0] > x0:
            ax.axvspan(x0, E_window_GeV[0], color="0.9", zorder=0)
        if E_window_GeV[1] < x1:
            ax.axvspan(E_window_GeV[1], x1, color="0.9", zorder=0)
        ax.set_xlim(x0, x1)


def plot_neutrino_comparison(E_GeV: np.ndarray, E2F_model: Mapping[str, np.ndarray], references: Sequence,
                             path: str | os.PathLike, title: str = "", dpi: int = 150) -> Path:
    """All-sky per-flavour E² F(E) [GeV cm⁻² s⁻¹]: model curves ``{label: E2F}`` and IceCube's KRA-γ fits
    (:class:`fpgal.emission.skydata.NeutrinoFlux`) as lines with their normalisation bands."""
    E = np.asarray(E_GeV, dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, ref in enumerate(references):
        color = f"C{len(E2F_model) + i}"
        ax.fill_between(ref.E_GeV, ref.E2F - ref.E2F_lo, ref.E2F + ref.E2F_hi, color=color, alpha=0.25, lw=0)
        ax.plot(ref.E_GeV, ref.E2F, color=color, ls="--", lw=1.5, label=ref.label)
    for i, (label, y) in enumerate(E2F_model.items()):
        ax.plot(E, np.asarray(y, dtype=float), color=f"C{i}", lw=1.8, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$E_\nu$ [GeV]")
    ax.set_ylabel(r"$E^2 F$ per flavour, all sky [GeV cm$^{-2}$ s$^{-1}$]")
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write a figure atomically (temporary file + rename); the format follows the suffix."""
    from ..core.files import atomic_path
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
