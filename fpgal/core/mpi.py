"""The one MPI error discipline of fpgal: nothing collective on a subset of ranks, an error on any
rank ends every rank with the original message, never a hang.

* :func:`collective` — every rank runs ``fn``; if it raised anywhere, every rank raises: the failing
  rank its own exception, the others a copy of it (same type and message) with a note naming the rank;
* :func:`on_root` — only ``root`` runs ``fn`` (writing a file, a post-processing stage); the outcome,
  value or exception, reaches every rank;
* :func:`wait_all` — a barrier that sleeps while it waits, so SIGINT/SIGTERM still reach Python and a
  waiting rank leaves its CPU to the working one.

A communicator of ``None`` (or of one rank) means "serial": ``fn`` simply runs. :func:`world` gives
COMM_WORLD when the process runs on several ranks and None otherwise, without initialising MPI for
a serial run. Nothing here imports PETSc.
"""
from __future__ import annotations

import pickle
import time
from typing import Callable, TypeVar

from .log import mpi_rank_size

T = TypeVar("T")


def world():
    """mpi4py's COMM_WORLD when running on several ranks, else None."""
    if mpi_rank_size()[1] > 1:
        from mpi4py import MPI
        return MPI.COMM_WORLD
    return None


def is_root() -> bool:
    """True on rank 0 of COMM_WORLD and in a serial run: ``if fpgal.is_root(): print(...)`` in a
    script that also runs under ``mpiexec`` (results and ``save()`` need no such guard)."""
    return mpi_rank_size()[0] == 0


def as_mpi4py(comm):
    """An mpi4py communicator from an mpi4py or petsc4py one (None stays None)."""
    return comm.tompi4py() if hasattr(comm, "tompi4py") else comm


def wait_all(comm) -> None:
    """Barrier on ``comm`` that polls a non-blocking barrier with short sleeps (interruptible)."""
    if comm is None or comm.Get_size() == 1:
        return
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(0.005)


def collective(fn: Callable[[], T], comm, what: str = "") -> T:
    """Run ``fn()`` on every rank of ``comm``; if it raised on any rank, raise on every rank.

    Collective (one ``allgather``): every rank must call it. The failing rank re-raises its own
    exception; the others raise a copy of the lowest failing rank's (same type and message) with
    the note "(raised on MPI rank r and re-raised on rank s[ during <what>])".
    """
    comm = as_mpi4py(comm)
    value, err = None, None
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
        err = exc
    if comm is None or comm.Get_size() == 1:
        if err is not None:
            raise err
        return value
    wait_all(comm)
    errors = comm.allgather(None if err is None else _portable(err))
    failed = [(rank, e) for rank, e in enumerate(errors) if e is not None]
    if not failed:
        return value
    if err is not None:
        raise err
    rank, copy = failed[0]
    copy.add_note(f"(raised on MPI rank {rank} and re-raised on rank {comm.Get_rank()}"
                  + (f" during {what})" if what else ")"))
    raise copy


def on_root(fn: Callable[[], T], comm, root: int = 0) -> T:
    """Run ``fn()`` on rank ``root`` of ``comm`` only; every rank returns its result or raises its error.

    Collective: every rank must call it. The others wait with :func:`wait_all`, then the outcome
    (value, or exception) is broadcast, so an error on ``root`` raises on every rank — on the
    others as a copy with a note naming ``root``. The value must be picklable.
    """
    comm = as_mpi4py(comm)
    if comm is None or comm.Get_size() == 1:
        return fn()
    rank = comm.Get_rank()
    mine = outcome = None
    if rank == root:
        try:
            mine = (fn(), None)
        except Exception as exc:  # noqa: BLE001 - broadcast, then re-raised on every rank
            mine = (None, exc)
        outcome = _picklable(mine)
    wait_all(comm)
    result, error = comm.bcast(outcome, root=root)
    if rank == root:
        if mine[1] is not None:
            raise mine[1]
        if error is not None:
            raise error
        return mine[0]
    if error is not None:
        error.add_note(f"(raised on MPI rank {root} and re-raised on rank {rank})")
        raise error
    return result


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _picklable(outcome: tuple):
    """``outcome`` if it survives pickling (needed by ``bcast``), else a RuntimeError describing it."""
    try:
        pickle.loads(pickle.dumps(outcome))
        return outcome
    except Exception as exc:  # noqa: BLE001
        result, error = outcome
        what = f"{type(error).__name__}: {error}" if error is not None else f"a result of type {type(result).__name__}"
        return None, RuntimeError(f"{what} (could not be sent to the other MPI ranks: {exc})")
