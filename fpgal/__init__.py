"""fpgal — Galactic cosmic-ray transport on a grid (anisotropic Fokker–Planck, PETSc) and the
gamma-ray sky it makes.

Flow: field → tensor → operator → solve → CR density → emission → maps.

>>> import fpgal
>>> grid = fpgal.Grid.from_mesh("milkyway-1kpc")
>>> tensor = fpgal.diffusion.FieldAligned(fpgal.fields.UF23("base"), 0.1, fpgal.diffusion.BrokenPowerLaw(3e28))
>>> cr = fpgal.solve_steady(grid, tensor, source, spectrum, boundary=fpgal.Cylinder(20, 4))
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import units  # noqa: E402
from .grid import Grid  # noqa: E402
from .result import CRDensity  # noqa: E402
from .boundary import Box, Cylinder  # noqa: E402
from . import diffusion, fields  # noqa: E402

_LAZY = {
    "solve_steady": ("fpgal.transport", "solve_steady"),
    "sde": ("fpgal.sde", None),
    "emission": ("fpgal.emission", None),
    "gas": ("fpgal.emission.gas", None),
    "sources": ("fpgal.sources", None),
    "spectra": ("fpgal.spectra", None),
    "transport": ("fpgal.transport", None),
    "analysis": ("fpgal.analysis", None),
    "is_root": ("fpgal.mpi", "is_root"),
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
    raise AttributeError(f"module 'fpgal' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazily imported ones included (tab completion in notebooks)."""
    return sorted(set(__all__) | set(globals()))


__all__ = ["Grid", "CRDensity", "Box", "Cylinder", "diffusion", "fields", "units", "solve_steady", "sde",
           "emission", "gas", "sources", "spectra", "transport", "analysis", "is_root", "__version__"]
