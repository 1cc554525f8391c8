"""Scripts run unchanged under mpiexec (issue 14): every rank gets the result, ``save`` writes one file.

The plain script ``_plain_script.py`` (no rank logic) runs as one process and under ``mpiexec -n 2``:
the two runs write the same files (datasets equal to 1e-8 relative), exactly one file per save and no
``.partial`` left; both ranks see identical local spectra and sky maps; a failing save raises the same
error on both ranks instead of hanging. Also: a factorized solve is stored lean (≤ 1/10 of the general
layout) and comes back identical.
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("petsc4py")
pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))
from _mpirun import run_mpi, run_serial  # noqa: E402

sys.path.pop(0)
SCRIPT = str(HERE / "_plain_script.py")


def _run(tmp_path: Path, name: str, launcher, **kw) -> tuple[Path, list[dict]]:
    out, reports = tmp_path / name / "out", tmp_path / name / "reports"
    out.mkdir(parents=True)
    reports.mkdir()
    proc = launcher([SCRIPT, str(out), str(reports)], **kw)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, [json.loads(p.read_text()) for p in sorted(reports.iterdir())]


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.mark.mpi
def test_plain_script_under_mpiexec_writes_the_same_one_file(tmp_path):
    out1, (serial,) = _run(tmp_path, "one", run_serial, timeout_s=300)
    out2, ranks = _run(tmp_path, "two", run_mpi, n=2, timeout_s=300)
    # every rank ran to the end and holds the same result
    assert len(ranks) == 2
    assert ranks[0] == ranks[1], "the two ranks saw different results"
    two = ranks[0]
    assert serial["n_ranks"] == 1 and two["n_ranks"] == 2
    assert two["factorized"] == serial["factorized"] == [True, False]
    assert two["saved"] == [str(out2 / "factorized.h5"), str(out2 / "general.h5")]
    assert two["save_error"] == serial["save_error"] is not None        # raised on both ranks, no hang
    for key in ("local", "interpolated", "lossy_local", "skymap"):
        assert _rel(serial[key], two[key]) < 1e-8, key
    # exactly the two files (one per save), nothing left behind
    assert sorted(p.name for p in out2.iterdir()) == ["factorized.h5", "general.h5"]
    for name, layout, datasets in (("factorized.h5", "factorized", ("spatial", "energy_factor")),
                                   ("general.h5", "general", ("density",))):
        with h5py.File(out1 / name) as a, h5py.File(out2 / name) as b:
            assert a.attrs["layout"] == b.attrs["layout"] == layout
            assert set(a) == set(b)
            assert b["meta"].attrs["n_ranks"] == 2
            for ds in datasets:
                assert a[ds].shape == b[ds].shape
                assert _rel(a[ds][...], b[ds][...]) < 1e-8, (name, ds)
            for ds in ("x_edges", "y_edges", "z_edges", "E"):
                np.testing.assert_array_equal(a["grid"][ds][...], b["grid"][ds][...])


def test_factorized_solve_is_stored_lean_and_reloads_identically(tmp_path):
    import fpgal
    from fpgal.diffusion import BrokenPowerLaw, FieldAligned
    from fpgal.fields.analytic import LogSpiral
    grid = fpgal.Grid((-4, 4, 16), (-4, 4, 16), (-2, 2, 8), E_GeV=np.geomspace(10.0, 1e7, 25))
    tensor = FieldAligned(LogSpiral(pitch_deg=12.0, r0_kpc=2.0, r_min_kpc=0.5), 0.1, BrokenPowerLaw(3e28))
    cr = fpgal.solve_steady(grid, tensor, fpgal.sources.GaussianBlob((1.0, -0.5, 0.0), 0.8),
                            lambda E: 1e-3 * E ** -2.2)
    assert cr.is_factorized and cr.meta["factorized"] and cr.comm is None
    lean = cr.save(tmp_path / "factorized.h5")
    full = fpgal.CRDensity(grid, cr.density, meta=cr.meta).save(tmp_path / "general.h5")
    sizes = lean.stat().st_size, full.stat().st_size
    print("file sizes: factorized %d B, general %d B, ratio 1/%.1f" % (sizes[0], sizes[1], sizes[1] / sizes[0]))
    assert sizes[0] * 10 <= sizes[1]
    back = fpgal.CRDensity.load(lean)
    assert back.is_factorized
    np.testing.assert_array_equal(back.density, cr.density)
    sun = {"center_kpc": (-2.0, 0.5, 0.0), "radius_kpc": 0.6}
    np.testing.assert_array_equal(back.local_spectrum(**sun), cr.local_spectrum(**sun))
    assert back.meta.keys() == cr.meta.keys()
    for key, value in cr.meta.items():
        assert back.meta[key] == value, key
    general = fpgal.CRDensity.load(full)
    assert not general.is_factorized
    np.testing.assert_array_equal(general.density, cr.density)
