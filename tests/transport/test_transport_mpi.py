"""1 rank vs 2 MPI ranks give the same solution (1e-8 relative)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("petsc4py")

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec") or "/usr/bin/mpiexec"


def test_one_vs_two_ranks(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        from _mpi_case import cases, smoother_cases
    finally:
        sys.path.pop(0)
    a, b = cases()
    out = tmp_path / "two.npz"
    env = dict(os.environ, FPGAL_PROGRESS="0")
    from fpgal.affinity import bind_to_core_args
    proc = subprocess.run([MPIEXEC, *bind_to_core_args(MPIEXEC), "-n", "2", sys.executable, str(HERE / "_mpi_case.py"), str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = np.load(out)
    assert int(two["ranks"]) == 2
    for name, one in (("factorized", a.density), ("losses", b.density)):
        scale = np.abs(one).max()
        diff = np.abs(two[name] - one).max() / scale
        print(name, "max |n2 - n1| / max|n1| =", diff)
        assert diff < 1e-8
    # level smoothers at ε = 1e-3: PETSc's rank-local SOR needs more CG iterations on 2 ranks than on
    # one (measured 10 → 14 with the default fourth-kind Chebyshev(6)/SSOR smoother); the two-colour slab
    # SSOR wins back at least half of that (11) and gives the same answer
    sor, slab = smoother_cases()
    its_1 = sor.meta["iterations"]
    assert slab.meta["iterations"] == its_1            # one rank: the slab SSOR is PETSc's SSOR
    print("CG iterations 1 rank", its_1, "| 2 ranks: PCSOR", int(two["its_sor"]), "slab SSOR", int(two["its_slab"]))
    assert int(two["its_sor"]) >= its_1 + 3
    assert int(two["its_slab"]) <= (its_1 + int(two["its_sor"])) // 2
    for name in ("sor", "slab"):
        assert np.abs(two[name] - sor.density).max() / np.abs(sor.density).max() < 1e-8
