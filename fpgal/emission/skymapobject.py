"""`SkyMap`: HEALPix maps that know their energies, nside, particle and units, and write themselves.

    >>> sky = emission.SkyMap.compute(cr, emission.gas.NakanishiSofue(), [1e3, 1e4], nside=64)
    >>> sky.nside, sky.E_GeV, sky.units
    >>> sky.window_spectrum("lhaaso_inner")      # mean intensity in the window per energy
    >>> sky.at(1e3)                              # the map at 1 TeV (log-log interpolated)
    >>> sky.save("sky.fits"); sky.save("sky.h5"); SkyMap.load("sky.h5")

The intensity is I(E, l, b) in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (HEALPix RING, Galactic), the line-of-sight
integral of :func:`fpgal.emission.skymap` (docs/emission.md); the object only carries it with its
axes so that nothing downstream has to be told the energies, nside or units separately.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import units as _units
from ..core.checks import renamed_keywords
from .products import INTENSITY_UNITS, WINDOWS, SkyWindow, load_h5, maps_at, regional_spectrum, save_fits, save_h5


@dataclass(frozen=True, eq=False)
class SkyMap:
    """Maps ``intensity`` (nE, npix) at energies ``E_GeV`` (nE,) of ``particle`` ('gamma' or 'neutrino').

    ``meta`` holds free-form provenance (ε, gas model, observer, timings of the computation).
    """

    intensity: np.ndarray
    E_GeV: np.ndarray
    particle: str = "gamma"
    units: str = INTENSITY_UNITS
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        import healpy as hp
        I = np.atleast_2d(np.asarray(self.intensity, dtype=float))
        E = np.atleast_1d(np.asarray(self.E_GeV, dtype=float))
        if I.shape[0] != E.size:
            raise ValueError(f"SkyMap: {I.shape[0]} maps but {E.size} energies (E_GeV={E.tolist()})")
        if not hp.isnpixok(I.shape[1]):
            raise ValueError(f"SkyMap: {I.shape[1]} pixels is not a HEALPix map size (12 nside²)")
        if self.particle not in ("gamma", "neutrino"):
            raise ValueError(f"SkyMap: particle={self.particle!r}; expected 'gamma' or 'neutrino'")
        object.__setattr__(self, "intensity", I)
        object.__setattr__(self, "E_GeV", E)

    @classmethod
    @renamed_keywords(observer_kpc="sun_kpc")
    def compute(cls, cr, gas, E_GeV, nside: int, **options) -> "SkyMap":
        """Line-of-sight maps of ``cr`` on ``gas`` (every keyword of :func:`fpgal.emission.skymap`). The
        observer goes into ``meta["observer_kpc"]`` (the name of the file attribute)."""
        from .maps import skymap
        timings: dict = {}
        maps = skymap(cr, gas, E_GeV, nside, timings=timings, **options)
        meta = {"epsilon": cr.meta.get("epsilon", float("nan")), "gas": repr(gas), "timings_s": timings,
                "observer_kpc": list(np.asarray(options.get("sun_kpc", _units.sun_position_kpc), dtype=float))}
        return cls(maps, E_GeV, particle=options.get("particle", "gamma"), meta=meta)

    @property
    def nside(self) -> int:
        import healpy as hp
        return int(hp.npix2nside(self.intensity.shape[1]))

    def at(self, E_GeV) -> np.ndarray:
        """Maps at ``E_GeV`` (log-log interpolation in energy), shape (n, npix)."""
        return maps_at(self.intensity, self.E_GeV, E_GeV)

    def window_spectrum(self, window: str | SkyWindow | np.ndarray) -> np.ndarray:
        """Solid-angle mean intensity in a sky window (a name of ``WINDOWS``, a SkyWindow or a mask)."""
        return regional_spectrum(self.intensity, window)

    def window_spectra(self, windows=tuple(WINDOWS)) -> dict[str, np.ndarray]:
        return {str(w): self.window_spectrum(w) for w in windows}

    def save(self, path: str | os.PathLike, config_text: str = "") -> Path:
        """Write atomically: ``.fits`` (healpy-readable, one column per energy) or ``.h5``."""
        path = Path(path)
        if path.suffix == ".fits":
            return save_fits(path, self.intensity, self.E_GeV, units=self.units,
                             extra_header={"PARTICLE": self.particle})[0]
        if path.suffix in (".h5", ".hdf5"):
            attrs = {"particle": self.particle, **{k: v for k, v in self.meta.items() if k != "timings_s"}}
            return save_h5(path, self.intensity, self.E_GeV, units=self.units, attrs=attrs, config_text=config_text)
        raise ValueError(f"SkyMap.save({str(path)!r}): expected a .fits or .h5 file name")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SkyMap":
        """Read a map file written by :meth:`save` (HDF5) or by the pipeline's sky-map stage."""
        maps, E, attrs = load_h5(path)
        particle = str(attrs.pop("particle", "gamma"))
        units = str(attrs.get("intensity_units", INTENSITY_UNITS))
        return cls(maps, E, particle=particle, units=units, meta=dict(attrs))

    def __repr__(self) -> str:
        return (f"SkyMap({self.particle}, nside={self.nside}, {self.E_GeV.size} energies "
                f"{self.E_GeV.min():.4g}–{self.E_GeV.max():.4g} GeV, {self.units})")

