"""User plugins: Python files or modules a study imports before it runs.

A plugin registers its own models under names the config can use, e.g. a file ``mygas.py`` with::

    from fpgal.emission.gas import GasModel, register_gas

    class Shell(GasModel):
        def _HI(self, xyz):                      # atoms cm⁻³ on (N, 3) galactocentric kpc
            ...

    register_gas("shell", lambda **kw: Shell())

and the study ``plugins = ["mygas.py"]`` (paths relative to the config file, or importable module
names) with ``[skymap] gas = "shell"``. The same works for fields (``fpgal.fields.register_field``),
sources (``fpgal.sources.register_source``) and spectra (``fpgal.spectra.register_spectrum``).
Under MPI every rank imports the plugins (each rank loads the config). See docs/architecture.md.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class PluginError(ImportError):
    """A plugin could not be found or raised while being imported; the message names it."""


def resolve(entry: str, base_dir: Path) -> str:
    """A ``.py`` entry as an absolute path (relative to ``base_dir``); a module name unchanged."""
    if not isinstance(entry, str) or not entry.strip():
        raise PluginError(f"plugin {entry!r}: expected a .py file or a module name")
    entry = entry.strip()
    if entry.endswith(".py"):
        path = Path(entry).expanduser()
        return str(path if path.is_absolute() else (base_dir / path).resolve())
    return entry


def load_plugin(entry: str) -> ModuleType:
    """Import one plugin (an absolute ``.py`` path or a module name); a file is imported once per
    process under a name derived from its path."""
    try:
        if not entry.endswith(".py"):
            return importlib.import_module(entry)
        path = Path(entry)
        if not path.is_file():
            raise PluginError(f"plugin file {entry!r} does not exist")
        name = "fpgal_plugin_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except PluginError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of user code becomes one named error
        raise PluginError(f"plugin {entry!r} failed to import: {type(exc).__name__}: {exc}") from exc


def load_plugins(entries: list[str], base_dir: Path) -> list[str]:
    """Resolve and import every entry in order; returns the resolved entries."""
    resolved = [resolve(e, base_dir) for e in entries]
    for entry in resolved:
        load_plugin(entry)
    return resolved
