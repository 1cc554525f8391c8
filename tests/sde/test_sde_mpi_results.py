"""``fpgal.sde.steady_state`` under mpiexec -n 2: a CRDensity on both ranks, identical values, one file.

The script has no rank logic; every process reports what it holds to REPORT_DIR/report.<pid>.json.
The tallies are integers, so one and two ranks agree bit for bit (tests/sde/test_sde_mpi.py).
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))
from _mpirun import run_mpi, run_serial  # noqa: E402

sys.path.pop(0)

SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys
    from pathlib import Path
    import numpy as np
    import fpgal
    from fpgal.diffusion import FieldAligned
    sys.path.insert(0, {tests!r})
    from sde_fields import RingField
    out, reports = Path(sys.argv[1]), Path(sys.argv[2])
    grid = fpgal.Grid((1.6, 6.4, 12), (-2.4, 2.4, 12), (-2.4, 2.4, 12), E_GeV=[100.0, 1000.0])
    tensor = FieldAligned(RingField(), 0.1, fpgal.diffusion.PowerLaw(3e28, 1000.0, 0.4))
    src = lambda x: np.exp(-0.5 * np.sum((x - [4.0, 0, 0]) ** 2, axis=1) / 0.25)
    cr = fpgal.sde.steady_state(grid, tensor, src, lambda E: E ** -2.0, n_particles=2000, seed=7,
                                step_kpc=0.2, chunk_size=250)
    path = cr.save(out / "sde.h5")
    sha = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
    report = dict(path=str(path), factorized=cr.is_factorized, density=sha(cr.density), error=sha(cr.error),
                  total=float(cr.density.sum()), local=cr.local_spectrum(center_kpc=(4.0, 0.0, 0.0), radius_kpc=0.5).tolist(),
                  mpi_ranks=cr.meta["mpi_ranks"])
    (reports / f"report.{{os.getpid()}}.json").write_text(json.dumps(report))
""")


def _run(tmp_path: Path, name: str, launcher, **kw):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(tests=str(HERE)))
    out, reports = tmp_path / name / "out", tmp_path / name / "reports"
    out.mkdir(parents=True)
    reports.mkdir()
    proc = launcher([str(script), str(out), str(reports)], **kw)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, [json.loads(p.read_text()) for p in sorted(reports.iterdir())]


@pytest.mark.mpi
def test_steady_state_returns_the_result_on_every_rank(tmp_path):
    out1, (serial,) = _run(tmp_path, "one", run_serial, timeout_s=300)
    out2, ranks = _run(tmp_path, "two", run_mpi, n=2, timeout_s=300)
    assert len(ranks) == 2 and ranks[0] == ranks[1]
    two = ranks[0]
    assert two["mpi_ranks"] == 2 and serial["mpi_ranks"] == 1
    assert two["factorized"] and serial["factorized"]            # separable tensor, no losses
    assert serial["total"] > 0
    for key in ("density", "error", "local"):
        assert two[key] == serial[key], key                      # bit-identical: integer tallies
    assert two["path"] == str(out2 / "sde.h5")
    assert [p.name for p in out2.iterdir()] == ["sde.h5"]
    with h5py.File(out1 / "sde.h5") as a, h5py.File(out2 / "sde.h5") as b:
        for ds in ("spatial", "energy_factor", "spatial_error"):
            np.testing.assert_array_equal(a[ds][...], b[ds][...])
