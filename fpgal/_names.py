"""fpgal's short public module names and the folders behind them.

The package is laid out by layer (``core/``, ``model/``, ``app/``, docs/architecture.md) while the names
users write stay short and stable: ``fpgal.diffusion`` *is* ``fpgal.model.diffusion`` — the same module
object, not a copy, so classes, ``isinstance``, monkeypatching and pickles agree under either name.
Inside the package the full names are used (tests/core/test_layers.py checks it).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: short name under ``fpgal.`` → the module or package under ``fpgal.`` that holds it
SHORT_NAMES: dict[str, str] = {
    # core
    "units": "core.units", "points": "core.points", "interp": "core.interp", "registry": "core.registry",
    "checks": "core.checks", "log": "core.log", "mpi": "core.mpi", "files": "core.files", "grid": "core.grid",
    "data": "core.data",
    # model
    "fields": "model.fields", "diffusion": "model.diffusion", "sources": "model.sources",
    "spectra": "model.spectra", "species": "model.species", "boundary": "model.boundary",
    # solver helpers
    "petsc_options": "transport.petsc_options", "affinity": "transport.affinity",
    # app
    "config": "app.config", "builders": "app.builders", "stages": "app.stages", "report": "app.report",
    "pipeline": "app.pipeline", "commands": "app.commands", "cli": "app.cli", "launch": "app.launch",
    "plugins": "app.plugins", "nuclei_stage": "app.nuclei_stage", "scan": "app.scan", "studies": "app.studies",
    # deprecated names (they warn)
    "io": "core.files",
}

#: short names kept for one release only: importing them warns with this text
DEPRECATED: dict[str, str] = {
    "io": "fpgal.io is deprecated: it was renamed fpgal.files (it no longer shares the standard library's "
          "'io' name); import the same names from there",
}


def full_name(name: str) -> str:
    """``"fpgal.diffusion"`` → ``"fpgal.model.diffusion"``; names that are not short come back unchanged."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "fpgal" and parts[1] in SHORT_NAMES:
        return ".".join(["fpgal", *SHORT_NAMES[parts[1]].split("."), *parts[2:]])
    return name


class _SameModule(importlib.abc.Loader):
    """Loads a short name as the already-importable module behind it (no second copy)."""

    def __init__(self, short: str, full: str):
        self.short, self.full = short, full
        self.real_spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.full)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.real_spec     # the import system set the short spec; the module keeps its own
        top = self.short.split(".")[1]
        if top in DEPRECATED and self.short.count(".") == 1:
            warnings.warn(DEPRECATED[top], DeprecationWarning, stacklevel=2)


class _ShortNameFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that maps ``fpgal.<short>[.sub]`` to ``fpgal.<folder>.<short>[.sub]``."""

    def find_spec(self, fullname, path=None, target=None):
        full = full_name(fullname)
        if full == fullname:
            return None
        real = importlib.util.find_spec(full)
        if real is None:
            return None
        return importlib.util.spec_from_loader(fullname, _SameModule(fullname, full),
                                               is_package=real.submodule_search_locations is not None)


def install_short_names() -> None:
    """Put the short-name finder first on ``sys.meta_path`` (once); then ``import fpgal.diffusion`` and
    ``import fpgal.fields.uf23`` give the modules in ``fpgal/model/``."""
    if not any(isinstance(f, _ShortNameFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ShortNameFinder())
