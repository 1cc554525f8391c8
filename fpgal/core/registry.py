"""Name → factory tables for configs and the command line (sources, spectra, gas and field models).

One rule for every table: names are case-insensitive and ``_`` and ``-`` are the same character
(``register_source("my_src", …)`` is found as ``my_src``, ``My-Src`` or ``my-src``). Unknown names
raise ValueError listing the known ones.
"""
from __future__ import annotations

from typing import Callable, Iterable


def registry_key(name: str) -> str:
    """The canonical form of a registry name: stripped, lower case, ``_`` written as ``-``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name {name!r}: expected a non-empty string")
    return name.strip().lower().replace("_", "-")


class Registry:
    """Factories by name for one kind of object (``kind`` names it in error messages)."""

    def __init__(self, kind: str, entries: dict[str, Callable] | None = None):
        self.kind = kind
        self._factories: dict[str, Callable] = {}
        for name, factory in (entries or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: Callable, aliases: Iterable[str] = ()) -> None:
        """Make ``name`` (and ``aliases``) build objects with ``factory(**kw)``."""
        if not callable(factory):
            raise TypeError(f"register {self.kind} {name!r}: factory {factory!r} is not callable")
        for n in (name, *aliases):
            self._factories[registry_key(n)] = factory

    def unregister(self, name: str) -> None:
        """Remove ``name`` (KeyError naming it if it is not registered)."""
        key = registry_key(name)
        if key not in self._factories:
            raise KeyError(f"{self.kind} {name!r} is not registered")
        del self._factories[key]

    def __contains__(self, name: str) -> bool:
        try:
            return registry_key(name) in self._factories
        except ValueError:
            return False

    def names(self) -> list[str]:
        return sorted(self._factories)

    def factory(self, name: str, extra_names: Iterable[str] = ()) -> Callable:
        """The factory registered under ``name``; ValueError listing the known names otherwise."""
        key = registry_key(name)
        if key not in self._factories:
            known = ", ".join([*self.names(), *extra_names])
            raise ValueError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._factories[key]
