"""Logging and progress bars, MPI-aware: rank 0 speaks, other ranks only warn.

Use ``log = get_logger(__name__)`` in modules and ``progress(iterable, desc=...)`` for long loops.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")
_CONFIGURED = False
# environment variables an MPI launcher sets in every rank (MPICH/Hydra, PMIx, Open MPI)
LAUNCHER_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")


def mpi_rank_size() -> tuple[int, int]:
    """(rank, size) of COMM_WORLD, (0, 1) without MPI. Does not initialise MPI by itself."""
    if "mpi4py.MPI" not in sys.modules and not any(k in os.environ for k in LAUNCHER_ENV):
        return 0, 1
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    except Exception:  # noqa: BLE001
        return 0, 1


def setup_logging(level: str | int = "INFO") -> None:
    """Configure the ``fpgal`` logger: rank-tagged lines; non-root ranks show warnings only."""
    global _CONFIGURED
    rank, size = mpi_rank_size()
    logger = logging.getLogger("fpgal")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    tag = f"[rank {rank}/{size}] " if size > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s {tag}%(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    if isinstance(level, str):
        level = getattr(logging, level.upper())
    logger.setLevel(level if rank == 0 else max(level, logging.WARNING))
    logger.propagate = False
    _CONFIGURED = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("fpgal") else f"fpgal.{name}")


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, disable: bool | None = None) -> Iterable[T]:
    """A tqdm progress bar on rank 0 (stderr); silent on other ranks and when FPGAL_PROGRESS=0."""
    rank, _ = mpi_rank_size()
    if disable is None:
        disable = rank != 0 or os.environ.get("FPGAL_PROGRESS", "1") == "0"
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True)
