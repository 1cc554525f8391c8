"""Input checks shared by the solvers: seeds, counts, positive numbers, spectra; renamed keywords.

Each raises ValueError (or TypeError for a wrong kind of object) naming the argument, the bad value
(and where: the energy) and what was expected. Used by :func:`fpgal.sde.steady_state`,
:func:`fpgal.sde.propagate` and :class:`fpgal.transport.TransportProblem`. :func:`renamed_keywords`
keeps an old keyword name of a public function working for one release (with a DeprecationWarning),
:func:`renamed_module` an old module name.
"""
from __future__ import annotations

import functools
import math
import warnings
from types import ModuleType
from typing import Callable

import numpy as np


def check_seed(seed, owner: str = "SDE"):
    """``seed`` as given if numpy's SeedSequence takes it: a non-negative int, a sequence of them or a
    SeedSequence; ValueError/TypeError naming the value otherwise (booleans and floats are refused)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    items = list(seed) if isinstance(seed, (list, tuple, np.ndarray)) else [seed]
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{owner}: seed={seed!r}; expected a non-negative integer (or a sequence of them, "
                            "or a numpy SeedSequence)")
        if v < 0:
            raise ValueError(f"{owner}: seed={seed!r}; expected a non-negative integer")
    if not items:
        raise ValueError(f"{owner}: seed={seed!r} is empty; expected a non-negative integer")
    return seed


def _as_float(value, message: str) -> float:
    """``float(value)``; TypeError with ``message`` for booleans and anything float() refuses."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(message)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(message) from exc


def positive_int(value, name: str, owner: str = "SDE") -> int:
    """``value`` as an int ≥ 1 (integral floats such as 1e5 are accepted; booleans, NaN, 2.5, 0 are not)."""
    v = _as_float(value, f"{owner}: {name}={value!r}; expected a positive integer")
    if not (math.isfinite(v) and v >= 1 and v == int(v)):
        raise ValueError(f"{owner}: {name}={value!r}; expected a positive integer (>= 1)")
    return int(v)


def positive_number(value, name: str, unit: str, owner: str = "SDE", optional: bool = False) -> float | None:
    """``value`` as a finite float > 0 (``None`` passes when ``optional``)."""
    if value is None and optional:
        return None
    v = _as_float(value, f"{owner}: {name}={value!r}; expected a positive number in {unit}")
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{owner}: {name}={value!r}; expected a finite positive number in {unit}")
    return v


def spectrum_values(spectrum: Callable, E_GeV) -> np.ndarray:
    """``spectrum(E)`` at the energies ``E_GeV`` as floats; ValueError naming the energies where it is
    NaN/inf (or where it raises or does not return a number)."""
    if not callable(spectrum):
        raise TypeError(f"spectrum={spectrum!r} is not callable (E_GeV -> GeV^-1 cm^-3 s^-1)")
    E_all = np.atleast_1d(np.asarray(E_GeV, dtype=float))
    out = np.empty(E_all.size)
    for k, E in enumerate(E_all):
        try:
            out[k] = float(np.asarray(spectrum(float(E)), dtype=float))
        except Exception as exc:  # noqa: BLE001 - a user callable: name it and the energy
            raise ValueError(f"spectrum {spectrum!r} failed at E_GeV={E:g}: {type(exc).__name__}: {exc}") from exc
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(f"spectrum {spectrum!r} is NaN/inf at E_GeV={E_all[bad].tolist()}; "
                         "expected finite values in GeV^-1 cm^-3 s^-1")
    return out


def renamed_keywords(**old_to_new: str) -> Callable[[Callable], Callable]:
    """Decorator that keeps renamed keyword arguments working for one release.

    ``@renamed_keywords(observer_kpc="sun_kpc")`` makes ``f(..., observer_kpc=x)`` call
    ``f(..., sun_kpc=x)`` and warn with a DeprecationWarning naming the new keyword; passing both
    names is a TypeError. Positional calls and the new keyword pass through untouched, and the
    signature (``inspect.signature``, docs/api.md) is the new one.
    """
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{func.__qualname__}() got both {old}= (deprecated) and {new}=; pass {new}= only")
                warnings.warn(f"{func.__qualname__}(): the keyword {old}= is deprecated, use {new}= (same meaning)",
                              DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return wrapper
    return decorate


def renamed_module(old: str, new: ModuleType) -> Callable[[str], object]:
    """The body of a deprecated alias module ``old`` of the renamed module ``new``, kept for one release:
    warns (once, on import) with a DeprecationWarning naming ``new`` and returns the module-level
    ``__getattr__`` that forwards every name to ``new``. Use: ``__getattr__ = renamed_module(__name__, new)``.
    """
    warnings.warn(f"{old} is deprecated: it was renamed {new.__name__} (import the same names from there)",
                  DeprecationWarning, stacklevel=3)

    def forward(name: str) -> object:
        return getattr(new, name)
    return forward
