"""``fpgal … --np N``: run a command on N MPI ranks without writing the ``mpiexec`` line yourself.

The CLI re-launches itself as ``mpiexec -bind-to core -n N python -m fpgal …`` (the binding flag
from :func:`fpgal.affinity.bind_to_core_args`; unbound ranks made 2-rank solves up to 4× slower on
the 2-core machine) and returns the launcher's exit code. ``--np auto`` takes every CPU this
process may use (``os.sched_getaffinity``). Where it cannot launch — no ``mpiexec`` on the PATH, a
single CPU, or already running under an MPI launcher — it says why and runs on one rank (or the
ranks it already has): the answer is the same, only slower.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from ..core.log import LAUNCHER_ENV, get_logger

log = get_logger(__name__)

# set in the children so that they never launch again
CHILD_ENV = "FPGAL_LAUNCHED_BY_FPGAL"


def available_cpus() -> int:
    """CPUs this process may run on (1 where the OS does not say)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_np(value: str) -> int:
    """``--np`` value: a positive integer or ``auto`` (all available CPUs)."""
    if value.strip().lower() == "auto":
        return available_cpus()
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--np {value!r}: expected a positive number of MPI ranks or 'auto'")
    return n


def under_mpi_launcher() -> bool:
    """True inside a process started by an MPI launcher (or by :func:`relaunch`)."""
    return CHILD_ENV in os.environ or any(k in os.environ for k in LAUNCHER_ENV)


def find_mpiexec() -> str | None:
    """The launcher of the MPI that mpi4py/PETSc were built against: ``$FPGAL_MPIEXEC``, else
    ``mpiexec`` (or ``mpirun``) on the PATH."""
    explicit = os.environ.get("FPGAL_MPIEXEC")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return shutil.which("mpiexec") or shutil.which("mpirun")


def launch_command(n_ranks: int, argv: list[str], mpiexec: str) -> list[str]:
    """``[mpiexec, <bind>, -n, N, python, -m, fpgal, *argv]``."""
    from ..transport.affinity import bind_to_core_args
    return [mpiexec, *bind_to_core_args(mpiexec), "-n", str(n_ranks), sys.executable, "-m", "fpgal", *argv]


def relaunch(n_ranks: int, argv: list[str]) -> int | None:
    """Run ``fpgal argv`` on ``n_ranks`` ranks and return its exit code; None means "run here on the
    current rank(s)" (one rank requested, or launching is not possible — the reason is logged)."""
    if n_ranks <= 1:
        return None
    if under_mpi_launcher():
        log.warning("--np %d ignored: already running under an MPI launcher", n_ranks)
        return None
    mpiexec = find_mpiexec()
    if mpiexec is None:
        log.warning("--np %d: no mpiexec/mpirun on the PATH (install MPICH, e.g. `apt-get install mpich`, or set "
                    "FPGAL_MPIEXEC); running on one rank instead — same result, slower", n_ranks)
        return None
    cmd = launch_command(n_ranks, argv, mpiexec)
    log.info("launching %d MPI ranks: %s", n_ranks, " ".join(cmd))
    env = dict(os.environ, **{CHILD_ENV: "1"})
    try:
        proc = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        log.warning("--np %d: could not start %s (%s); running on one rank instead", n_ranks, mpiexec, exc)
        return None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # the terminal's Ctrl-C reaches the launcher too; let it end its ranks cleanly, then make sure
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
