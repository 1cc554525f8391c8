"""Chunks, seeds and the MPI split of the particle ensemble.

The particles are cut into chunks whose number and sizes depend only on ``n_particles`` and
``chunk_size`` — never on the number of MPI ranks — and chunk c draws its random numbers from
``numpy.random.SeedSequence(seed).spawn(n_chunks)[c]``. Rank r runs chunks r, r + size, …, and the
tallies are summed on rank 0 and broadcast to all ranks, so a seed gives the same result on any
number of ranks (bit-identical for integer-valued tallies, to round-off of the final sum otherwise)
and every rank holds the same result.
"""
from __future__ import annotations

import os
import sys

import numpy as np


def default_comm():
    """COMM_WORLD when running under MPI (mpi4py imported or an MPI launcher's variables set), else None."""
    if "mpi4py.MPI" not in sys.modules and not any(k in os.environ for k in ("PMI_RANK", "OMPI_COMM_WORLD_RANK",
                                                                            "PMI_SIZE", "PMIX_RANK")):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD


def rank_size(comm) -> tuple[int, int]:
    return (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())


def chunk_sizes(n_particles: int, chunk_size: int, min_chunks: int = 1) -> np.ndarray:
    """Sizes of the chunks (differing by at most one), at least ``min_chunks`` of them when possible."""
    n = int(n_particles)
    if n < 1:
        raise ValueError(f"n_particles={n_particles!r}: expected a positive integer")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size={chunk_size!r}: expected a positive integer")
    n_chunks = max(-(-n // int(chunk_size)), min(int(min_chunks), n))
    sizes = np.full(n_chunks, n // n_chunks, dtype=np.int64)
    sizes[: n % n_chunks] += 1
    return sizes


def chunk_seeds(seed, n_chunks: int) -> list[np.random.SeedSequence]:
    """Independent child seeds of ``seed`` (an int, a sequence of ints or a SeedSequence)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n_chunks)


def my_chunks(n_chunks: int, comm) -> range:
    rank, size = rank_size(comm)
    return range(rank, n_chunks, size)


def reduce_sum(arr: np.ndarray, comm) -> np.ndarray | None:
    """Sum ``arr`` over ranks onto rank 0 (other ranks get None)."""
    if comm is None or comm.Get_size() == 1:
        return arr
    from mpi4py import MPI
    arr = np.ascontiguousarray(arr)
    out = np.empty_like(arr) if comm.Get_rank() == 0 else None
    comm.Reduce(arr, out, op=MPI.SUM, root=0)
    return out


def allreduce_sum(arr: np.ndarray, comm) -> np.ndarray:
    """Sum ``arr`` over ranks, result on every rank: summed on rank 0 (``Reduce``) and broadcast
    (``Bcast``), so every rank holds bit-identical numbers."""
    if comm is None or comm.Get_size() == 1:
        return arr
    total = reduce_sum(arr, comm)
    if total is None:
        total = np.empty_like(np.ascontiguousarray(arr))
    comm.Bcast(total, root=0)
    return total
