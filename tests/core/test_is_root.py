"""fpgal.is_root(): True in a serial run; under mpiexec exactly one rank (rank 0) is root."""
import pytest

import fpgal

from _mpirun import run_mpi


def test_serial_process_is_root():
    assert fpgal.is_root() is True and "is_root" in dir(fpgal)


@pytest.mark.mpi
def test_exactly_one_root_under_mpiexec(tmp_path):
    code = ("import sys, fpgal; from mpi4py import MPI; r = MPI.COMM_WORLD.Get_rank(); "
            "open(f'{sys.argv[1]}/rank{r}.txt', 'w').write(str(fpgal.is_root()))")
    proc = run_mpi(["-c", code, str(tmp_path)], n=2)
    assert proc.returncode == 0, proc.stderr
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)] == ["True", "False"]
