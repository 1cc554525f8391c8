"""The SDE result for a seed does not depend on the number of MPI ranks (1 vs 2)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fpgal
    from fpgal.diffusion import FieldAligned
    sys.path.insert(0, {tests!r})
    from sde_fields import RingField
    grid = fpgal.Grid((1.6, 6.4, 12), (-2.4, 2.4, 12), (-2.4, 2.4, 12), E_GeV=[100.0, 1000.0])
    tensor = FieldAligned(RingField(), 0.1, fpgal.diffusion.PowerLaw(3e28, 1000.0, 0.4))
    src = lambda x: np.exp(-0.5 * np.sum((x - [4.0, 0, 0]) ** 2, axis=1) / 0.25)
    cr = fpgal.sde.steady_state(grid, tensor, src, lambda E: E ** -2.0, n_particles=4000, seed=99,
                                step_kpc=0.2, chunk_size=500, comm={comm})
    if cr.comm is None or cr.comm.Get_rank() == 0:     # every rank holds the result; one writes it
        np.save({out!r}, np.stack([cr.density, cr.error]))
        print("ranks", cr.meta["mpi_ranks"], "batches", cr.meta["n_batches"])
""")


def _script(out: Path, comm: str) -> str:
    return SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), comm=comm)


def test_one_and_two_ranks_agree(tmp_path):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        pytest.skip("no mpirun")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]) + os.pathsep
               + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    serial = tmp_path / "serial.npy"
    exec(compile(_script(serial, "None"), "serial", "exec"), {})
    par = tmp_path / "par.npy"
    script = tmp_path / "run.py"
    script.write_text(_script(par, '"auto"'))
    cmd = [mpirun, "-n", "2"]
    if "open-mpi" in subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout.lower() or \
            "open mpi" in subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout.lower():
        cmd += ["--oversubscribe"]
    res = subprocess.run(cmd + [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    print(res.stdout, res.stderr[-2000:])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ranks 2" in res.stdout
    a, b = np.load(serial), np.load(par)
    assert a[0].sum() > 0
    # integer-valued tallies: the sums are exact, so the results are bit-identical
    np.testing.assert_array_equal(a, b)
