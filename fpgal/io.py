"""Deprecated alias of :mod:`fpgal.files` (renamed so that it no longer shares the standard library's
``io`` name); kept for one release: ``import fpgal.io`` warns and forwards every name to fpgal.files."""
from __future__ import annotations

import warnings

from . import files as _files

warnings.warn("fpgal.io is deprecated: it was renamed fpgal.files (import atomic_h5, atomic_path, write_dataset, "
              "... from fpgal.files)", DeprecationWarning, stacklevel=2)


def __getattr__(name: str):
    return getattr(_files, name)
