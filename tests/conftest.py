"""Shared fixtures for the fpgal test-suite."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("FPGAL_PROGRESS", "0")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def data_dir():
    from fpgal.data import data_dir as _data_dir
    return _data_dir()
