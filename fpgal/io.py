"""Deprecated alias of :mod:`fpgal.files` (renamed so that it no longer shares the standard library's
``io`` name); kept for one release: ``import fpgal.io`` warns and forwards every name to fpgal.files."""
from __future__ import annotations

from . import files
from .checks import renamed_module

__getattr__ = renamed_module(__name__, files)
