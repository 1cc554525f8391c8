"""Map products: sky windows, regional spectra, band-integrated maps, ratio maps, FITS/HDF5 output.

Maps are arrays ``(nE, npix)`` in HEALPix RING order, Galactic coordinates, intensity in
GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ at energies ``E_GeV``. HEALPix pixels have equal area, so a solid-angle
weighted average over a window is the plain mean over the pixels whose centres lie inside it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.files import atomic_h5, atomic_path, write_dataset
from .sky import check_nside, pixel_lb

INTENSITY_UNITS = "GeV^-1 cm^-2 s^-1 sr^-1"
BAND_UNITS = "cm^-2 s^-1 sr^-1"


# ------------------------------------------------------------------------------------ windows
@dataclass(frozen=True)
class SkyWindow:
    """Longitude/latitude box ``l_min < l < l_max``, ``b_min ≤ b ≤ b_max`` (degrees; l may wrap 360°).

    Pixel centres on the boundary count as inside (HEALPix ring latitudes never equal ±5° exactly
    for the nsides used here, so |b| < 5° and |b| ≤ 5° select the same pixels).
    """

    l_min: float
    l_max: float
    b_min: float = -5.0
    b_max: float = 5.0
    label: str = ""

    def __post_init__(self):
        if not (-90.0 <= self.b_min < self.b_max <= 90.0):
            raise ValueError(f"SkyWindow: b range [{self.b_min}, {self.b_max}] deg, expected -90 <= b_min < b_max <= 90")
        if not (np.isfinite(self.l_min) and np.isfinite(self.l_max)):
            raise ValueError(f"SkyWindow: l range [{self.l_min}, {self.l_max}] must be finite degrees")

    def contains(self, l_deg: np.ndarray, b_deg: np.ndarray) -> np.ndarray:
        width = (self.l_max - self.l_min) % 360.0
        width = 360.0 if width == 0.0 and self.l_max != self.l_min else width
        dl = np.mod(np.asarray(l_deg) - self.l_min, 360.0)
        return (dl <= width) & (np.asarray(b_deg) >= self.b_min) & (np.asarray(b_deg) <= self.b_max)

    def mask(self, nside: int) -> np.ndarray:
        """Boolean (npix,) mask of RING pixels whose centres are inside."""
        l, b = pixel_lb(nside)
        return self.contains(l, b)


#: Windows of the published diffuse measurements (all |b| ≤ 5°).
WINDOWS: dict[str, SkyWindow] = {
    "lhaaso_inner": SkyWindow(15.0, 125.0, label="LHAASO inner 15°<l<125°, |b|<5°"),
    "lhaaso_outer": SkyWindow(125.0, 235.0, label="LHAASO outer 125°<l<235°, |b|<5°"),
    "tibet_region1": SkyWindow(25.0, 100.0, label="Tibet ASγ 25°<l<100°, |b|<5°"),
    "tibet_region2": SkyWindow(50.0, 200.0, label="Tibet ASγ 50°<l<200°, |b|<5°"),
    "argo_region1": SkyWindow(25.0, 100.0, label="ARGO-YBJ 25°<l<100°, |b|<5°"),
    "argo_region2": SkyWindow(130.0, 200.0, label="ARGO-YBJ 130°<l<200°, |b|<5°"),
}


def window_mask(window: str | SkyWindow | np.ndarray, nside: int) -> np.ndarray:
    """Mask for a window name (see :data:`WINDOWS`), a :class:`SkyWindow` or a user mask (npix,) bool."""
    import healpy as hp
    nside = check_nside(nside)
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"unknown sky window {window!r}; known: {', '.join(WINDOWS)}")
        return WINDOWS[window].mask(nside)
    if isinstance(window, SkyWindow):
        return window.mask(nside)
    m = np.asarray(window)
    if m.shape != (hp.nside2npix(nside),):
        raise ValueError(f"user mask has shape {m.shape}, expected ({hp.nside2npix(nside)},) for nside={nside}")
    return m.astype(bool)


def regional_spectrum(maps: np.ndarray, window: str | SkyWindow | np.ndarray,
                      exclude: np.ndarray | None = None) -> np.ndarray:
    """Solid-angle-weighted mean intensity over a window, shape (nE,).

    ``exclude`` is an optional (npix,) bool mask of pixels to drop (e.g. masked sources).
    """
    import healpy as hp
    maps = np.atleast_2d(np.asarray(maps, dtype=float))
    nside = hp.npix2nside(maps.shape[1])
    m = window_mask(window, nside)
    if exclude is not None:
        m = m & ~window_mask(np.asarray(exclude, bool), nside)
    if not m.any():
        raise ValueError(f"sky window {window!r} contains no pixel centre at nside={nside}")
    return maps[:, m].mean(axis=1)


def regional_spectra(maps: np.ndarray, windows=("lhaaso_inner", "lhaaso_outer")) -> dict[str, np.ndarray]:
    return {str(w if isinstance(w, str) else w.label): regional_spectrum(maps, w) for w in windows}


# ------------------------------------------------------------------------------------ energy axis
def maps_at(maps: np.ndarray, E_GeV: np.ndarray, E_want_GeV) -> np.ndarray:
    """Maps at other energies inside the range, by log-log interpolation per pixel (linear where ≤ 0)."""
    maps = np.atleast_2d(np.asarray(maps, dtype=float))
    E = np.asarray(E_GeV, dtype=float)
    Ew = np.atleast_1d(np.asarray(E_want_GeV, dtype=float))
    if np.any(Ew < E[0] * (1 - 1e-12)) or np.any(Ew > E[-1] * (1 + 1e-12)):
        raise ValueError(f"maps_at: energies {Ew} GeV outside the map range [{E[0]:g}, {E[-1]:g}] GeV")
    out = np.empty((Ew.size, maps.shape[1]))
    lnE = np.log(E)
    for j, e in enumerate(Ew):
        i = int(np.clip(np.searchsorted(E, e) - 1, 0, max(E.size - 2, 0)))
        if E.size == 1:
            out[j] = maps[0]
            continue
        t = (np.log(e) - lnE[i]) / (lnE[i + 1] - lnE[i])
        a, b = maps[i], maps[i + 1]
        pos = (a > 0) & (b > 0)
        out[j] = np.where(pos, np.exp((1 - t) * np.log(np.where(pos, a, 1)) + t * np.log(np.where(pos, b, 1))),
                          (1 - t) * a + t * b)
    return out


def band_integral(maps: np.ndarray, E_GeV: np.ndarray, E_min_GeV: float, E_max_GeV: float) -> np.ndarray:
    """∫_{E_min}^{E_max} I(E) dE per pixel [cm⁻² s⁻¹ sr⁻¹], piecewise power law between map energies."""
    maps = np.atleast_2d(np.asarray(maps, dtype=float))
    E = np.asarray(E_GeV, dtype=float)
    if E.size < 2 or not (E[0] * (1 - 1e-12) <= E_min_GeV < E_max_GeV <= E[-1] * (1 + 1e-12)):
        raise ValueError(f"band_integral: band [{E_min_GeV}, {E_max_GeV}] GeV must lie inside the map energies "
                         f"[{E[0]:g}, {E[-1]:g}] GeV (at least two energies)")
    total = np.zeros(maps.shape[1])
    for i in range(E.size - 1):
        a, b = max(E[i], E_min_GeV), min(E[i + 1], E_max_GeV)
        if b <= a:
            continue
        Ia, Ib = maps_at(maps[i:i + 2], E[i:i + 2], [a, b])
        pos = (Ia > 0) & (Ib > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.log(np.where(pos, Ib / np.where(pos, Ia, 1), 1)) / np.log(b / a)
            pl = np.where(np.abs(g + 1) > 1e-8, (Ib * b - Ia * a) / (g + 1), Ia * a * np.log(b / a))
        total += np.where(pos, pl, 0.5 * (Ia + Ib) * (b - a))
    return total


# ------------------------------------------------------------------------------------ comparisons
def ratio_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b (NaN where b = 0), e.g. the anisotropic over the isotropic run (paper Fig. 4)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"ratio_map: shapes differ, {a.shape} vs {b.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


def relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a − b) / b (NaN where b = 0)."""
    return ratio_map(a, b) - 1.0


# ------------------------------------------------------------------------------------ output
def save_fits(path: str | os.PathLike, maps: np.ndarray, E_GeV, units: str = INTENSITY_UNITS,
              per_energy: bool = False, extra_header: dict | None = None) -> list[Path]:
    """Write HEALPix maps (RING, coordsys 'G') to FITS, atomically.

    One binary-table column per energy (``I_E000``, ``I_E001``…; header keys ``E000``… hold the
    energies in GeV, ``EUNITS = 'GeV'``), or with ``per_energy=True`` one file per energy named
    ``<stem>_E<energy>GeV.fits``. ``healpy.read_map(path, field=i)`` reads energy i back.
    """
    import healpy as hp
    maps = np.atleast_2d(np.asarray(maps, dtype=float))
    E = np.atleast_1d(np.asarray(E_GeV, dtype=float))
    if maps.shape[0] != E.size:
        raise ValueError(f"save_fits: {maps.shape[0]} maps but {E.size} energies")
    hp.npix2nside(maps.shape[1])                     # raises on a bad pixel count
    if E.size > 999:
        raise ValueError("save_fits: at most 999 energies per file")
    path = Path(path)
    base = [(k.upper()[:8], v) for k, v in (extra_header or {}).items()]
    base += [("EUNITS", "GeV"), ("BUNIT", units), ("ORDERING", "RING")]

    def write(target: Path, m: np.ndarray, energies: np.ndarray) -> Path:
        hdr = base + [(f"E{i:03d}", float(e)) for i, e in enumerate(energies)]
        names = [f"I_E{i:03d}" for i in range(len(energies))]
        with atomic_path(target) as tmp:
            hp.write_map(str(tmp), list(m), coord="G", nest=False, column_names=names, column_units=units,
                         extra_header=hdr, overwrite=True, dtype=np.float64)
        return target

    if not per_energy:
        return [write(path, maps, E)]
    stem = path.with_suffix("") if path.suffix == ".fits" else path
    return [write(Path(f"{stem}_E{e:.4g}GeV.fits"), maps[i:i + 1], E[i:i + 1]) for i, e in enumerate(E)]


def read_fits_energies(path: str | os.PathLike) -> np.ndarray:
    """Energies [GeV] stored by :func:`save_fits` in the header of the map table."""
    from astropy.io import fits
    with fits.open(path) as hdul:
        hdr = hdul[1].header
        keys = sorted(k for k in hdr if len(k) == 4 and k.startswith("E") and k[1:].isdigit())
        return np.array([float(hdr[k]) for k in keys])


def save_h5(path: str | os.PathLike, maps: np.ndarray, E_GeV, units: str = INTENSITY_UNITS,
            attrs: dict | None = None, config_text: str = "", name: str = "intensity") -> Path:
    """Write maps to HDF5 atomically: ``/E_gamma`` [GeV], ``/<name>`` (nE, npix) with units and
    HEALPix attributes (nside, ordering RING, coordsys G), plus provenance and ``attrs``."""
    import healpy as hp
    maps = np.atleast_2d(np.asarray(maps, dtype=float))
    E = np.atleast_1d(np.asarray(E_GeV, dtype=float))
    if maps.shape[0] != E.size:
        raise ValueError(f"save_h5: {maps.shape[0]} maps but {E.size} energies")
    nside = hp.npix2nside(maps.shape[1])
    with atomic_h5(path, config_text=config_text) as h5:
        write_dataset(h5, "E_gamma", E, "GeV", "energy of the secondary particle")
        ds = write_dataset(h5, name, maps, units, "sky map(s) per energy, HEALPix RING, Galactic coordinates",
                           compression="gzip", compression_opts=1)
        ds.attrs["nside"] = nside
        ds.attrs["ordering"] = "RING"
        ds.attrs["coordsys"] = "G"
        for k, v in (attrs or {}).items():
            h5.attrs[k] = v if not isinstance(v, (dict, list, tuple)) else repr(v)
    return Path(path)


def load_h5(path: str | os.PathLike, name: str = "intensity") -> tuple[np.ndarray, np.ndarray, dict]:
    """(maps (nE, npix), E_GeV, attributes) from a file written by :func:`save_h5`."""
    import h5py
    with h5py.File(path, "r") as h5:
        if name not in h5 or "E_gamma" not in h5:
            raise ValueError(f"{path}: not an fpgal map file (needs /E_gamma and /{name})")
        maps = h5[name][...]
        E = h5["E_gamma"][...]
        attrs = dict(h5.attrs)
        attrs.update({f"{name}_{k}": v for k, v in h5[name].attrs.items()})
    return maps, E, attrs
