"""Sky maps (Mollweide, Galactic, centred on l = 0), ratio maps and regional gamma-ray spectra.

Paper figures: Fig. 3 (maps), Fig. 4 (ratio / relative-difference maps), Fig. 5 (regional spectra
E²I vs E with LHAASO-KM2A and Fermi-LAT points). Every function writes a PNG atomically and
returns its path; they take plain arrays (or files read by :mod:`fpgal.emission.products`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core.files import atomic_path  # noqa: E402

INTENSITY_LABEL = r"$I$ [GeV$^{-1}$ cm$^{-2}$ s$^{-1}$ sr$^{-1}$]"
E2I_LABEL = r"$E^2 I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]"


def _save(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    plt.close(fig)
    return path


def _energy_label(E_GeV: float) -> str:
    for unit, f in (("PeV", 1e6), ("TeV", 1e3), ("GeV", 1.0)):
        if E_GeV >= f:
            return f"{E_GeV / f:.3g} {unit}"
    return f"{E_GeV * 1e3:.3g} MeV"


def plot_skymap(m: np.ndarray, path: str | os.PathLike, title: str = "", unit: str = INTENSITY_LABEL,
                E_GeV: float | None = None, vmin: float | None = None, vmax: float | None = None,
                log: bool = True, cmap: str = "magma", graticule: bool = True) -> Path:
    """Mollweide map in Galactic coordinates centred on l = 0 (l increasing to the left), log colours."""
    import healpy as hp
    m = np.asarray(m, dtype=float)
    hp.npix2nside(m.size)
    if E_GeV is not None:
        title = (title + " — " if title else "") + _energy_label(E_GeV)
    data = m.copy()
    if log:
        pos = data[data > 0]
        if pos.size == 0:
            raise ValueError("plot_skymap: log scale needs positive pixels (all are <= 0)")
        vmin = vmin if vmin is not None else float(np.percentile(pos, 1.0))
        vmax = vmax if vmax is not None else float(pos.max())
        data[data <= 0] = vmin
    hp.mollview(data, title=title, unit=unit, norm="log" if log else None, min=vmin, max=vmax,
                cmap=cmap, coord=None, rot=(0.0, 0.0, 0.0), cbar=True)
    fig = plt.gcf()
    if graticule:
        hp.graticule(dpar=30, dmer=60, alpha=0.3)
    return _save(fig, path)


def plot_ratio_map(r: np.ndarray, path: str | os.PathLike, title: str = "", center: float = 1.0,
                   span: float | None = None, unit: str = "ratio", cmap: str = "RdBu_r") -> Path:
    """Ratio (``center=1``) or relative-difference (``center=0``) map with a diverging colour map,
    symmetric about ``center`` (span = max |r − center| unless given)."""
    import healpy as hp
    r = np.asarray(r, dtype=float)
    hp.npix2nside(r.size)
    finite = np.isfinite(r)
    if span is None:
        span = float(np.nanmax(np.abs(r[finite] - center))) if finite.any() else 1.0
        span = span or 1.0
    data = np.where(finite, r, hp.UNSEEN)
    hp.mollview(data, title=title, unit=unit, min=center - span, max=center + span, cmap=cmap,
                rot=(0.0, 0.0, 0.0), cbar=True)
    fig = plt.gcf()
    return _save(fig, path)


def plot_regional_spectra(E_GeV: np.ndarray, spectra: Mapping[str, np.ndarray], path: str | os.PathLike,
                          data_points: Sequence = (), title: str = "", ylim: tuple | None = None) -> Path:
    """E² I vs E for model spectra (``{label: I(E)}``, I in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹) and measured points
    (:class:`fpgal.emission.skydata.GammaPoints`)."""
    E = np.asarray(E_GeV, dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, I in spectra.items():
        ax.plot(E, E ** 2 * np.asarray(I, dtype=float), label=label, lw=1.8)
    markers = "osD^v<>"
    for k, pts in enumerate(data_points):
        e2 = pts.E_GeV ** 2
        ax.errorbar(pts.E_GeV, e2 * pts.I, yerr=[e2 * pts.I_lo, e2 * pts.I_hi], fmt=markers[k % len(markers)],
                    ms=4, capsize=2, label=pts.label, color=f"C{len(spectra) + k}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$E_\gamma$ [GeV]")
    ax.set_ylabel(E2I_LABEL)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_lhaaso_regions(E_GeV: np.ndarray, maps_by_run: Mapping[str, np.ndarray], out_dir: str | os.PathLike,
                        with_fermi: bool = True, data_dir=None) -> list[Path]:
    """Paper Fig. 5: inner and outer LHAASO windows, one curve per run (``{run label: maps (nE, npix)}``),
    with LHAASO-KM2A points (and Fermi-LAT on the inner panel)."""
    from ..emission.skydata import load_fermi_ackermann2012, load_lhaaso_km2a
    from ..emission.products import WINDOWS, regional_spectrum
    out = []
    for region in ("inner", "outer"):
        win = f"lhaaso_{region}"
        spectra = {run: regional_spectrum(m, win) for run, m in maps_by_run.items()}
        pts = [load_lhaaso_km2a(region, data_dir)]
        if with_fermi and region == "inner":
            pts.append(load_fermi_ackermann2012(data_dir))
        out.append(plot_regional_spectra(E_GeV, spectra, Path(out_dir) / f"spectrum_{win}.png", pts,
                                         title=WINDOWS[win].label))
    return out
