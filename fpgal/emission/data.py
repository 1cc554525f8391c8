"""Deprecated alias of :mod:`fpgal.emission.skydata` (renamed so that it is not mistaken for
:mod:`fpgal.data`, the package-data folder); kept for one release: ``fpgal.emission.data`` warns and
forwards every name to fpgal.emission.skydata."""
from __future__ import annotations

from ..core.checks import renamed_module
from . import skydata

__getattr__ = renamed_module(__name__, skydata)
