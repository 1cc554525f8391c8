"""Field models by name, for configs and the command line: ``field_from_name("uf23:base")``.

Names (case-insensitive): ``uf23`` (= ``uf23:base``) and ``uf23:<model>`` for the eight UF23
models, ``jf12`` (regular JF12), ``jf12-solenoidal`` (Kleimann et al. 2019), ``uniform``, ``ring``,
``logspiral``, ``xfield`` and ``gridded:<file.h5>``. Keyword arguments go to the model's
constructor. Users add their own with :func:`register_field`.
"""
from __future__ import annotations

from typing import Callable

from .analytic import LogSpiral, Ring, XField
from .base import FieldLike, Uniform
from .gridded import Gridded
from .jf12 import JF12
from .uf23 import MODELS as UF23_MODELS
from .uf23 import UF23
from ...core.registry import Registry, registry_key

_FIELDS = Registry("field model", {
    "jf12": lambda **kw: JF12(solenoidal=False, **kw),
    "jf12-solenoidal": lambda **kw: JF12(solenoidal=True, **kw),
    "uniform": Uniform,
    "ring": Ring,
    "logspiral": LogSpiral,
    "xfield": XField,
})


def field_names() -> list[str]:
    """All accepted names (``gridded:<file.h5>`` stands for any HDF5 table path)."""
    return [f"uf23:{m}" for m in UF23_MODELS] + _FIELDS.names() + ["gridded:<file.h5>"]


def register_field(name: str, factory: Callable[..., FieldLike]) -> None:
    """Make ``field_from_name(name, **kw)`` return ``factory(**kw)`` (a callable (N,3) kpc → (N,3) μG)."""
    if registry_key(name).startswith(("uf23", "gridded:")) or name in _FIELDS:
        raise ValueError(f"register_field: name {name!r} is taken; known: {', '.join(field_names())}")
    _FIELDS.register(name, factory)


def field_from_name(name: str, **kw) -> FieldLike:
    """Build a field from its name (see the module docstring) and constructor keywords."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"field model name {name!r}: expected one of {', '.join(field_names())}")
    key = name.strip()
    low = key.lower()
    if low == "uf23" or low.startswith("uf23:"):
        model = key.split(":", 1)[1] if ":" in key else "base"
        canon = {m.lower(): m for m in UF23_MODELS}.get(model.lower())
        if canon is None:
            raise ValueError(f"field model {name!r}: unknown UF23 model {model!r}; expected one of "
                             f"{', '.join(UF23_MODELS)}")
        return UF23(canon, **kw)
    if low.startswith("gridded:"):
        path = key.split(":", 1)[1]
        if not path:
            raise ValueError("field model 'gridded:' needs a file path, e.g. gridded:field.h5")
        return Gridded.load(path, **kw)
    if name in _FIELDS:
        return _FIELDS.factory(name)(**kw)
    raise ValueError(f"unknown field model {name!r}; expected one of {', '.join(field_names())}")
