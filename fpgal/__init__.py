"""fpgal — Galactic cosmic-ray transport on a grid (anisotropic Fokker–Planck, PETSc) and the
gamma-ray sky it makes.

Flow: field → tensor → operator → solve → CR density → emission → maps, in folders by layer
(docs/architecture.md): ``core/`` (units, grid, files, data) < ``model/`` (fields, diffusion, sources,
spectra, species, boundary) < ``result.py`` (CRDensity) < ``transport/``, ``sde/`` (solvers) <
``emission/``, ``analysis/`` < ``plots/`` < ``app/`` (config, pipeline, CLI).

>>> import fpgal
>>> grid = fpgal.Grid.from_mesh("milkyway-1kpc")
>>> tensor = fpgal.diffusion.FieldAligned(fpgal.fields.UF23("base"), 0.1, fpgal.diffusion.BrokenPowerLaw(3e28))
>>> cr = fpgal.solve_steady(grid, tensor, source, spectrum, boundary=fpgal.Cylinder(20, 4))
"""
from __future__ import annotations

__version__ = "0.1.0"

from ._names import SHORT_NAMES, DEPRECATED, install_short_names  # noqa: E402

install_short_names()

from .core import units  # noqa: E402
from .core.grid import Grid  # noqa: E402
from .result import CRDensity  # noqa: E402
from .model.boundary import Box, Cylinder  # noqa: E402
from .model import diffusion, fields  # noqa: E402

_LAZY = {
    "solve_steady": ("fpgal.transport", "solve_steady"),
    "sde": ("fpgal.sde", None),
    "emission": ("fpgal.emission", None),
    "gas": ("fpgal.emission.gas", None),
    "sources": ("fpgal.model.sources", None),
    "spectra": ("fpgal.model.spectra", None),
    "transport": ("fpgal.transport", None),
    "analysis": ("fpgal.analysis", None),
    "is_root": ("fpgal.core.mpi", "is_root"),
}


def __getattr__(name: str):
    """Import the heavier stages (PETSc, healpy, aafragpy) only when used."""
    if name in _LAZY:
        import importlib
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = getattr(module, attr) if attr else module
        globals()[name] = value
        return value
    if name in SHORT_NAMES and name not in DEPRECATED:
        import importlib
        return importlib.import_module(f"fpgal.{name}")   # the short public names (fpgal._names)
    raise AttributeError(f"module 'fpgal' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazily imported ones included (tab completion in notebooks)."""
    return sorted(set(__all__) | set(globals()) | {n for n in SHORT_NAMES if n not in DEPRECATED})


__all__ = ["Grid", "CRDensity", "Box", "Cylinder", "diffusion", "fields", "units", "solve_steady", "sde",
           "emission", "gas", "sources", "spectra", "transport", "analysis", "is_root", "__version__"]
