"""Shared fixtures for the fpgal test-suite."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FPGAL_PROGRESS", "0")
# the suite tests the tables shipped with fpgal; an override folder in the caller's environment must not leak in
os.environ.pop("FPGAL_DATA", None)

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: reference values read by tests only (field, gas, published-table samples)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def published_sample() -> Path:
    """``tests/data/published_sample``: unmodified copies of a few published tables (original layouts)."""
    return TEST_DATA / "published_sample"
