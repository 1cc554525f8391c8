"""fpgal's one model style: small immutable objects that describe themselves.

Every built-in model — magnetic fields, D(E) laws and diffusion tensors, source densities, escape
boundaries, gas models, injection spectra — derives from :class:`Model`:

- its **parameters are its constructor's arguments**, stored under the same names
  (``Cylinder(R_kpc=20, H_kpc=4).R_kpc``); :meth:`Model.parameters` reads them back;
- it is **frozen**: a public attribute cannot be rebound after construction (make a new object,
  or :meth:`Model.replace`), so a tensor handed to a solver cannot change under it. Private names
  (``_cache``) stay writable for lazily computed internals;
- :meth:`Model.to_dict` gives ``{"type": "fpgal.diffusion.FieldAligned", **parameters}`` with nested
  models as dicts — JSON-ready provenance — and :func:`model_from_dict` builds the object again;
- ``repr`` is the same information: ``FieldAligned(field=UF23(model='base', ...), epsilon=0.01, ...)``.

A user's own model needs none of this (any callable works); deriving from :class:`Model` gives it
the same provenance for free.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
from typing import Any

import numpy as np

#: arrays with more elements than this are recorded by shape and checksum, not by value
MAX_ARRAY_ELEMENTS = 64


def public_type_name(cls: type) -> str:
    """``fpgal.model.fields.uf23.UF23`` → ``"fpgal.fields.UF23"``: the short public module name
    (:mod:`fpgal._names`), shortened to the shallowest package below ``fpgal`` that exports the class."""
    from .._names import SHORT_NAMES, DEPRECATED
    module = cls.__module__
    for short, full in SHORT_NAMES.items():
        prefix = f"fpgal.{full}"
        if short not in DEPRECATED and (module == prefix or module.startswith(prefix + ".")):
            module = f"fpgal.{short}{module[len(prefix):]}"
            break
    parts = module.split(".")
    if parts[0] == "fpgal":
        for depth in range(2, len(parts)):
            package = ".".join(parts[:depth])
            if getattr(importlib.import_module(package), cls.__name__, None) is cls:
                return f"{package}.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of one parameter value (nested models become dicts)."""
    if isinstance(value, Model):
        return value.to_dict()
    to_dict = getattr(value, "to_dict", None)       # e.g. a transparent wrapper (fields.base.RepeatEvaluations)
    if callable(to_dict) and not isinstance(value, type):
        return to_dict()
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
            return {"array_shape": list(value.shape), "dtype": str(value.dtype), "sha1": digest}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"unserialisable": repr(value)}


def _short_repr(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, np.ndarray):
        return repr(value.tolist()) if value.size <= MAX_ARRAY_ELEMENTS else f"<array {value.shape}>"
    if isinstance(value, (list, tuple)) and len(value) > MAX_ARRAY_ELEMENTS:
        return f"<{type(value).__name__} of {len(value)}>"
    return repr(value)


def _frozen_init(init):
    """Wrap a subclass's ``__init__`` so that the object is frozen when the outermost one returns."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        depth = self.__dict__.get("_init_depth", 0)
        object.__setattr__(self, "_init_depth", depth + 1)
        try:
            init(self, *args, **kwargs)
        finally:
            object.__setattr__(self, "_init_depth", depth)
    return wrapper


class Model:
    """Base class of fpgal's model objects: parameters = constructor arguments, frozen, ``to_dict``.

    Subclasses store every constructor argument under its own name. Arguments that are not
    parameters (a deprecated alias, a derived input) are listed in ``_not_parameters``.
    """

    _not_parameters: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _frozen_init(cls.__dict__["__init__"])

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and self.__dict__.get("_init_depth", 0) == 0:
            raise AttributeError(f"{type(self).__name__}.{name}: fpgal model objects are immutable after "
                                 f"construction; make a new one, e.g. obj.replace({name}=...)")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if not name.startswith("_"):
            raise AttributeError(f"{type(self).__name__}.{name}: fpgal model objects are immutable")
        object.__delattr__(self, name)

    @classmethod
    def _signature(cls) -> list[inspect.Parameter]:
        if cls.__init__ is object.__init__:          # a subclass without parameters
            return []
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return [p for p in params if p.kind is not p.VAR_KEYWORD and p.name not in cls._not_parameters]

    def parameters(self) -> dict[str, Any]:
        """The constructor arguments as stored: ``{name: value}`` (``*args`` as a tuple under its name)."""
        out = {}
        for p in self._signature():
            if not hasattr(self, p.name):
                raise AttributeError(f"{type(self).__name__} does not store its parameter {p.name!r} as "
                                     f"self.{p.name} (fpgal.core.modelbase.Model: store it, or list it in "
                                     "_not_parameters)")
            out[p.name] = getattr(self, p.name)
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"type": "<public class path>", **parameters}``, JSON-ready; :func:`model_from_dict` inverts it."""
        return {"type": public_type_name(type(self)), **{k: _plain(v) for k, v in self.parameters().items()}}

    def replace(self, **changes: Any) -> "Model":
        """A new object with some parameters changed (validated by the constructor like any other)."""
        params = self.parameters()
        unknown = sorted(set(changes) - set(params))
        if unknown:
            raise TypeError(f"{type(self).__name__}.replace: unknown parameter(s) {unknown}; "
                            f"the parameters are {sorted(params)}")
        params.update(changes)
        return _construct(type(self), params)

    def __repr__(self) -> str:
        starred = {p.name for p in self._signature() if p.kind is p.VAR_POSITIONAL}
        items = []
        for k, v in self.parameters().items():
            items += [_short_repr(x) for x in v] if k in starred else [f"{k}={_short_repr(v)}"]
        return f"{type(self).__name__}({', '.join(items)})"


def _construct(cls: type, params: dict[str, Any]) -> Any:
    args, kwargs = [], {}
    for p in cls._signature():
        if p.name not in params:
            continue
        if p.kind is p.VAR_POSITIONAL:
            args.extend(params[p.name])
        elif p.kind is p.POSITIONAL_ONLY:
            args.append(params[p.name])
        else:
            kwargs[p.name] = params[p.name]
    return cls(*args, **kwargs)


def _rebuild(value: Any) -> Any:
    if isinstance(value, dict):
        if "type" in value and isinstance(value["type"], str) and value["type"].startswith("fpgal."):
            return model_from_dict(value)
        if "sha1" in value and "array_shape" in value:
            raise ValueError(f"cannot rebuild a model from an array recorded by checksum only ({value}); "
                             "keep the array and construct the object directly")
        if "unserialisable" in value:
            raise ValueError(f"cannot rebuild {value['unserialisable']} from its repr: pass the object itself")
        return {k: _rebuild(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v) for v in value]
    return value


def model_from_dict(data: dict[str, Any]) -> Any:
    """The object :meth:`Model.to_dict` described: ``model_from_dict(m.to_dict())`` rebuilds ``m``."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str) or "." not in data["type"]:
        raise ValueError(f"model_from_dict: expected {{'type': 'fpgal.<module>.<Class>', ...}}, got {data!r}")
    module_name, _, class_name = data["type"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ValueError(f"model_from_dict: {data['type']!r} is not an fpgal model class")
    params = {k: _rebuild(v) for k, v in data.items() if k != "type"}
    return _construct(cls, params)


def models_json(**objects: Any) -> str:
    """JSON text ``{"tensor": {...}, "source": {...}, ...}`` of the model objects of a run (provenance:
    the ``models_json`` attribute of a CRDensity's meta). fpgal models give their :meth:`Model.to_dict`;
    other callables are recorded as ``{"unserialisable": repr}``. Rebuild one with
    ``model_from_dict(json.loads(text)["tensor"])`` (spectra: :func:`fpgal.spectra.spectrum_from_dict`)."""
    import json
    return json.dumps({name: (obj.to_dict() if isinstance(obj, Model) else _plain(obj))
                       for name, obj in objects.items()}, sort_keys=True)
