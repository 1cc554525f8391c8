"""UF23 and JF12 against the published reference tables (authors' C++ code / CRPropa 3), in tests/data/gmf."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fpgal.fields import JF12, UF23

GMF = Path(__file__).resolve().parents[1] / "data" / "gmf"

RTOL = 1e-6            # the UF23 authors' own test tolerance
ATOL_MUG = 1e-12       # floor for exactly-zero reference vectors


def _uf23_table():
    rows = {}
    with open(GMF / "uf23_reference.txt") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            name, *vals = line.split()
            rows.setdefault(name, []).append([float(v) for v in vals])
    return {k: np.array(v) for k, v in rows.items()}


def _assert_vectors_close(B, B_ref, xyz):
    err = np.linalg.norm(B - B_ref, axis=1)
    tol = RTOL * np.linalg.norm(B_ref, axis=1) + ATOL_MUG
    bad = np.flatnonzero(err > tol)
    assert bad.size == 0, "\n".join(f"x={xyz[i]} B={B[i]} ref={B_ref[i]} |dB|={err[i]:.3e}" for i in bad[:5])


@pytest.mark.parametrize("model", UF23.MODELS)
def test_uf23_matches_reference_table(model):
    table = _uf23_table()
    assert set(table) == set(UF23.MODELS)
    d = table[model]
    assert len(d) == 40
    _assert_vectors_close(UF23(model)(d[:, :3]), d[:, 3:], d[:, :3])
    # the table is not trivially zero: most points carry field
    assert np.sum(np.linalg.norm(d[:, 3:], axis=1) > 1e-3) > 20


@pytest.mark.parametrize("solenoidal,cols", [(False, slice(3, 6)), (True, slice(6, 9))])
def test_jf12_matches_reference_table(solenoidal, cols):
    d = np.loadtxt(GMF / "jf12_reference.txt")
    assert d.shape == (40, 9)
    _assert_vectors_close(JF12(solenoidal=solenoidal)(d[:, :3]), d[:, cols], d[:, :3])


def test_jf12_versions_differ_where_expected():
    d = np.loadtxt(GMF / "jf12_reference.txt")
    differs = np.linalg.norm(d[:, 3:6] - d[:, 6:9], axis=1) > 1e-6
    r = np.hypot(d[:, 0], d[:, 1])
    # the solenoidal changes act on the disk (|z| small) only; high above the plane both agree
    assert not np.any(differs & (np.abs(d[:, 2]) > 3.0))
    assert np.any(differs & (r > 5) & (r < 20))
