"""Renamed names (issue 16) keep working for one release: the old name gives the very same object or
result as the new one and warns with a DeprecationWarning that names the new one."""
from __future__ import annotations

import importlib
import sys

import pytest

import fpgal.files


def test_fpgal_io_is_a_deprecated_alias_of_fpgal_files(monkeypatch):
    monkeypatch.delitem(sys.modules, "fpgal.io", raising=False)
    with pytest.warns(DeprecationWarning, match=r"fpgal\.io .*renamed fpgal\.files"):
        old = importlib.import_module("fpgal.io")
    for name in ("atomic_h5", "atomic_path", "write_dataset", "write_provenance", "read_provenance", "versions"):
        assert getattr(old, name) is getattr(fpgal.files, name)
    with pytest.raises(AttributeError):
        old.no_such_name
