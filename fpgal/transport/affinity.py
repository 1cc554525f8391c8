"""Where MPI ranks run: the launcher flag that binds ranks to cores, and a check for unbound ranks.

CG + GAMG spends its time in sparse matrix-vector products and SOR sweeps, and every iteration
waits for the neighbour rank's halo. MPICH's launcher (Hydra) does not bind ranks to cores by
default; the Linux scheduler then sometimes leaves two busy-polling ranks fighting over the same
core. Measured on the 2-vCPU CI machine (MPICH 4.0.2, 0.5 kpc mesh, ε = 1e-3, 53 CG iterations):
unbound 2-rank solves took 4.4–5.3 s in 6 of 14 runs and 1.0–1.5 s in the others; bound with
``mpiexec -bind-to core`` all 14 took 1.0–1.9 s (docs/numerics.md, "Binding ranks to cores").

:func:`bind_to_core_args` gives the flag for the local ``mpiexec`` (MPICH/Hydra and Open MPI);
:func:`warn_if_ranks_share_cpus` logs a warning when ranks on one host may run on the same CPUs.
"""
from __future__ import annotations

import os
import socket
import subprocess

from ..core.log import get_logger

log = get_logger(__name__)
_WARNED = False


def bind_to_core_args(mpiexec: str) -> list[str]:
    """Launcher arguments that bind each rank to one core: ``-bind-to core`` (MPICH/Hydra),
    ``--bind-to core`` (Open MPI), nothing for a launcher this function does not recognise."""
    try:
        text = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout.lower()
    except (OSError, subprocess.SubprocessError):
        return []
    if "hydra" in text or "mpich" in text:
        return ["-bind-to", "core"]
    if "open mpi" in text or "open-mpi" in text or "open-rte" in text:
        return ["--bind-to", "core"]
    return []


def cpu_affinity() -> frozenset[int] | None:
    """CPUs this process may run on (``os.sched_getaffinity``), None where the OS does not say."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def ranks_sharing_cpus(placements: list[tuple[str, frozenset[int] | None]]) -> list[tuple[int, int]]:
    """Pairs of ranks (i, j) on the same host whose CPU sets overlap, from each rank's (host, CPUs)."""
    pairs = []
    for i, (host_i, cpus_i) in enumerate(placements):
        for j in range(i + 1, len(placements)):
            host_j, cpus_j = placements[j]
            if host_i == host_j and cpus_i is not None and cpus_j is not None and cpus_i & cpus_j:
                pairs.append((i, j))
    return pairs


def rank_placements(comm) -> list[tuple[str, frozenset[int] | None]]:
    """(host, CPUs) of every rank of ``comm`` (mpi4py, or petsc4py via ``tompi4py``), on all ranks. Collective."""
    if hasattr(comm, "tompi4py"):
        comm = comm.tompi4py()
    return comm.allgather((socket.gethostname(), cpu_affinity()))


def cpu_text(cpus: frozenset[int] | None) -> str:
    """``{0,1}`` for a CPU set, ``?`` when unknown."""
    return "?" if cpus is None else "{" + ",".join(str(c) for c in sorted(cpus)) + "}"


def warn_if_ranks_share_cpus(comm) -> list[tuple[int, int]]:
    """Warn (once per process, on rank 0) when MPI ranks on one host are allowed on the same CPUs.

    ``comm`` is an mpi4py communicator (or a petsc4py one, converted with ``tompi4py``). Collective.
    Returns the overlapping rank pairs (empty on one rank or when every rank has its own CPUs).
    """
    global _WARNED
    if hasattr(comm, "tompi4py"):
        comm = comm.tompi4py()
    if comm.Get_size() == 1:
        return []
    placements = rank_placements(comm)
    pairs = ranks_sharing_cpus(placements)
    if pairs and not _WARNED and comm.Get_rank() == 0:
        i, j = pairs[0]
        log.warning("MPI ranks %d and %d (of %d, host %s) may run on the same CPUs (%s and %s): unbound ranks "
                    "made 2-rank solves up to 4x slower on a 2-core machine. Bind them, e.g. "
                    "`mpiexec -bind-to core -n %d ...` (MPICH) or `mpirun --bind-to core -n %d ...` (Open MPI).",
                    i, j, comm.Get_size(), placements[i][0], cpu_text(placements[i][1]),
                    cpu_text(placements[j][1]), comm.Get_size(), comm.Get_size())
    _WARNED = True
    return pairs

