"""Emission stage: gas models, cross sections, emissivity, line-of-sight integration → HEALPix maps.

    >>> from fpgal import emission
    >>> maps = emission.skymap(cr, emission.gas.NakanishiSofue(), [1e3, 1e4], nside=64)   # (nE, npix) array
    >>> sky = emission.SkyMap.compute(cr, emission.gas.NakanishiSofue(), [1e3, 1e4], nside=64)  # with its axes

Modules: :mod:`.gas` (n_H(x)), :mod:`.cross_sections` (dσ/dE via aafragpy), :mod:`.emissivity`
(q per H nucleus), :mod:`.los` + :mod:`.sky` (rays through the grid), :mod:`.absorption` (γγ on the
CMB), :mod:`.maps` (``skymap``), :mod:`.products` (windows, spectra, FITS/HDF5), :mod:`.skydata`
(LHAASO / Fermi-LAT / IceCube points), :mod:`.nuclei` (maps per CR species, p + He; neutrinos vs
IceCube). See docs/emission.md.
"""
from __future__ import annotations

from . import gas, nuclei  # noqa: F401
from .absorption import cmb_attenuation_length_kpc  # noqa: F401
from .emissivity import emissivity, production_matrix  # noqa: F401
from .maps import column_density, skymap  # noqa: F401
from .products import (WINDOWS, SkyWindow, band_integral, load_h5, maps_at, ratio_map,  # noqa: F401
                       regional_spectrum, relative_difference, save_fits, save_h5)
from .nuclei import per_flavour_all_sky_flux, species_skymaps  # noqa: F401
from .sky import lb_to_vec, pixel_directions, vec_to_lb  # noqa: F401
from .skymapobject import SkyMap  # noqa: F401

__all__ = ["SkyMap", "gas", "nuclei", "species_skymaps", "per_flavour_all_sky_flux", "skymap", "emissivity", "production_matrix", "column_density", "cmb_attenuation_length_kpc",
           "WINDOWS", "SkyWindow", "regional_spectrum", "band_integral", "maps_at", "ratio_map",
           "relative_difference", "save_fits", "save_h5", "load_h5", "lb_to_vec", "vec_to_lb",
           "pixel_directions"]
