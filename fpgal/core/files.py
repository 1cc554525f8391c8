"""Output files: atomic writes, and the HDF5 conventions shared by every fpgal output file
(``fpgal.files``; formerly ``fpgal.io``, renamed so it no longer shares the standard library's name).

* every dataset carries a ``units`` attribute (``"1"`` for dimensionless);
* a ``/provenance`` group records the fpgal version, the config text, PETSc/MPI/numpy versions,
  the date and the command line;
* files are written to a temporary name in the target directory and renamed (atomic on POSIX)
  only once complete: an interrupted run never leaves a file at the final name;
* under MPI, data replicated on every rank is written once, by rank 0 (:func:`fpgal.mpi.on_root`),
  and the outcome (path or exception) is returned/raised on every rank.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import h5py

#: distributions whose versions go into ``/provenance`` (read from their metadata, never imported)
_DISTRIBUTIONS = ("numpy", "h5py", "scipy", "petsc4py", "mpi4py", "petsc", "healpy", "aafragpy")


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of fpgal and the libraries that shape its numbers, safe to call on one MPI rank.

    Package versions come from ``importlib.metadata`` (nothing is imported). PETSc and the MPI
    library are asked directly (``PETSc.Sys.getVersion()``, ``MPI.Get_library_version()``, both
    local calls) only when ``petsc4py.PETSc`` / ``mpi4py.MPI`` are already imported: importing
    them initialises PETSc/MPI, a collective operation that hangs when only one rank does it.
    """
    from .. import __version__
    out = {"fpgal": __version__, "python": sys.version.split()[0]}
    out.update({name: _distribution_version(name) for name in _DISTRIBUTIONS})
    out["petsc"] = _petsc_version(out.pop("petsc"))
    out["mpi"] = _mpi_library_version()
    return out


def _petsc_version(installed: str) -> str:
    """The linked PETSc (``x.y.z``) if petsc4py.PETSc is loaded, else the installed ``petsc`` package."""
    module = sys.modules.get("petsc4py.PETSc")
    if module is not None:
        try:
            return "%d.%d.%d" % module.Sys.getVersion()
        except Exception:  # noqa: BLE001 - provenance must never make a save fail
            pass
    if installed == "not installed":
        return "not available"
    return f"{installed} (petsc package; petsc4py.PETSc not loaded in this process)"


def _mpi_library_version() -> str:
    """First line of ``MPI.Get_library_version()`` if mpi4py.MPI is loaded, else a note saying it is not."""
    module = sys.modules.get("mpi4py.MPI")
    if module is None:
        return "not queried (mpi4py.MPI not loaded in this process)"
    try:
        return module.Get_library_version().strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        return "not available"


def write_provenance(h5: h5py.File, config_text: str = "", extra: dict | None = None) -> None:
    """Create ``/provenance`` with versions, date, command line and the config text."""
    grp = h5.require_group("provenance")
    for key, value in versions().items():
        grp.attrs[f"version_{key}"] = value
    grp.attrs["date_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    grp.attrs["command_line"] = " ".join(sys.argv)
    grp.attrs["config"] = config_text
    for key, value in (extra or {}).items():
        grp.attrs[key] = value


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs should be as readable as ordinary files
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, config_text: str = "", provenance: dict | None = None) -> Iterator[h5py.File]:
    """Open an HDF5 file for writing that appears at ``path`` only when the block completes.

    >>> with atomic_h5("out.h5", config_text=cfg.text) as h5:
    ...     write_dataset(h5, "density", n, units="GeV^-1 cm^-3")
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            write_provenance(h5, config_text, provenance)
            yield h5


def write_dataset(h5: h5py.Group, name: str, data, units: str, description: str = "", **kwargs) -> h5py.Dataset:
    """Write a dataset with its ``units`` (and optional ``description``) attribute."""
    if units is None:
        raise ValueError(f"dataset {name!r}: units are required ('1' for dimensionless)")
    ds = h5.create_dataset(name, data=data, **kwargs)
    ds.attrs["units"] = units
    if description:
        ds.attrs["description"] = description
    return ds


def read_provenance(path: str | os.PathLike) -> dict:
    with h5py.File(path, "r") as h5:
        return dict(h5["provenance"].attrs) if "provenance" in h5 else {}
