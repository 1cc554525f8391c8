"""Launch ``python`` under mpiexec for the MPI tests, with a hard timeout: a hang fails the test.

As tests/transport/test_transport_mpi.py: ``mpiexec`` from PATH (else /usr/bin/mpiexec) with the
core-binding flags of :func:`fpgal.affinity.bind_to_core_args`. The launch is wrapped in coreutils
``timeout`` (which signals the whole process group: mpiexec and every rank), and the process group is
killed if even that does not end it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = shutil.which("mpiexec") or "/usr/bin/mpiexec"
TIMED_OUT = 124      # exit status of coreutils ``timeout`` when the limit was hit


def run_mpi(python_args: list[str], n: int = 2, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """``timeout T mpiexec -bind-to core -n N python ARGS``; fails the test (not hangs) after ``timeout_s``."""
    if not Path(MPIEXEC).exists():
        pytest.skip(f"no mpiexec ({MPIEXEC})")
    from fpgal.affinity import bind_to_core_args
    cmd = ["timeout", "-k", "10", str(int(timeout_s)), MPIEXEC, *bind_to_core_args(MPIEXEC), "-n", str(n),
           sys.executable, *python_args]
    env = dict(os.environ, FPGAL_PROGRESS="0", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec -n {n} did not end within {timeout_s + 30:.0f} s (killed): {cmd}")
    if proc.returncode == TIMED_OUT:
        pytest.fail(f"hang: mpiexec -n {n} python {' '.join(python_args)[:200]} did not finish within "
                    f"{timeout_s:.0f} s\nstdout:\n{out[-2000:]}\nstderr:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_serial(python_args: list[str], timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """The same script as a plain ``python`` process (one rank, no launcher)."""
    env = dict(os.environ, FPGAL_PROGRESS="0", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *python_args], capture_output=True, text=True, env=env,
                          timeout=timeout_s)
