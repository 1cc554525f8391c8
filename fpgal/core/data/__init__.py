"""Published reference tables shipped with fpgal, and where they are read from.

Every table fpgal reads at run time lives in this package (``fpgal/core/data/cosmic_rays``,
``gamma_rays``, ``neutrinos``) and is read with :mod:`importlib.resources`, so a fresh clone and a
non-editable ``pip install`` both have them. Lookup order: explicit argument / config key
``data_dir`` → environment variable ``FPGAL_DATA`` → the packaged tables. An override folder replaces
the packaged tables as a whole and needs the same sub-folder layout.

Every table is one plain-text file in the fpgal table format (``docs/data.md``): a header of
``# key: value`` lines — all of :data:`HEADER_KEYS`, in that order — then whitespace-separated numeric
rows with one value per name of the ``columns`` key. Units are stated in the header
(``abscissa_units``, ``quantity_units``); the loaders (:mod:`fpgal.analysis.crdata`,
:mod:`fpgal.emission.skydata`) convert to fpgal units. The packaged tables are generated from the
published files by ``tools/import_reference_data.py``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Mapping

import numpy as np

FORMAT = "fpgal-table-1"
HEADER_KEYS = ("format", "dataset", "experiment", "reference", "species", "quantity", "quantity_units",
               "abscissa", "abscissa_units", "columns", "source", "comment")
SUBDIRS = ("cosmic_rays", "gamma_rays", "neutrinos")
ENV_VAR = "FPGAL_DATA"

_HEADER_LINE = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s?(.*?)\s*$")

DataPath = Path | Traversable


class DataNotFoundError(FileNotFoundError):
    """A reference-data folder or table does not exist; the message says where fpgal looked and why."""


class TableFormatError(ValueError):
    """A table breaks the fpgal table format; the message names the file, the bad value and what was expected."""


def packaged_data_dir() -> Traversable:
    """The folder of the tables shipped inside the package (``fpgal/core/data``)."""
    return resources.files(__name__)


def data_dir(explicit: str | os.PathLike | None = None) -> DataPath:
    """The reference-data folder: ``explicit`` → ``$FPGAL_DATA`` → the packaged tables.

    Raises :class:`DataNotFoundError` naming the folder and where the name came from if an override
    does not exist.
    """
    if explicit:
        candidate, origin = Path(explicit), "the data_dir setting"
    elif os.environ.get(ENV_VAR):
        candidate, origin = Path(os.environ[ENV_VAR]), f"the {ENV_VAR} environment variable"
    else:
        return packaged_data_dir()
    if not candidate.is_dir():
        raise DataNotFoundError(
            f"reference data directory {str(candidate)!r} (from {origin}) does not exist; expected a folder "
            f"with the sub-folders {', '.join(s + '/' for s in SUBDIRS)} of tables in the fpgal table format "
            f"(docs/data.md). Unset {ENV_VAR} / data_dir to use the tables shipped with fpgal.")
    return candidate


def data_file(relative: str, explicit: str | os.PathLike | None = None) -> DataPath:
    """One reference table, e.g. ``data_file("gamma_rays/LHAASO-KM2A_2023_inner.txt")``."""
    path = data_dir(explicit)
    for part in relative.split("/"):
        path = path / part
    if not path.is_file():
        raise DataNotFoundError(f"reference table {relative!r} not found in the data directory {str(path)!r}")
    return path


# ------------------------------------------------------------------------------------ the format


@dataclass(frozen=True, eq=False)
class Table:
    """One table in the fpgal format: header ``meta`` (key → text) and ``data`` (rows × columns)."""

    meta: dict[str, str]
    data: np.ndarray
    path: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.meta["columns"].split())

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name`` (units: ``quantity_units``/``abscissa_units`` as documented)."""
        if name not in self.columns:
            raise TableFormatError(f"{self.path}: no column {name!r}; the table has {list(self.columns)}")
        return self.data[:, self.columns.index(name)]


def _parse_header(lines: list[str], where: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in lines:
        m = _HEADER_LINE.match(line.strip())
        if not m:
            raise TableFormatError(f"{where}: header line {line.strip()!r} is not of the form '# key: value'")
        meta[m.group(1).lower()] = m.group(2)
    missing = [k for k in HEADER_KEYS if k not in meta]
    if missing:
        raise TableFormatError(f"{where}: header lacks the keys {missing}; every table needs {list(HEADER_KEYS)}")
    if meta["format"] != FORMAT:
        raise TableFormatError(f"{where}: format {meta['format']!r}; expected {FORMAT!r}")
    names = meta["columns"].split()
    if not names or len(set(names)) != len(names):
        raise TableFormatError(f"{where}: columns {meta['columns']!r} must be distinct non-empty names")
    return meta


def _split(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Header lines (the leading ``#`` lines) and numbered non-blank body lines."""
    lines = text.splitlines()
    n = 0
    while n < len(lines) and lines[n].lstrip().startswith("#"):
        n += 1
    body = [(i + 1, ln) for i, ln in enumerate(lines[n:], start=n) if ln.strip()]
    return lines[:n], body


def read_header(path: DataPath) -> dict[str, str]:
    """The header of a table (validated: every key of :data:`HEADER_KEYS`, known format) without its rows."""
    header = []
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            if not line.lstrip().startswith("#"):
                break
            header.append(line)
    return _parse_header(header, str(path))


def read_table(path: DataPath) -> Table:
    """Read one table in the fpgal format; rows must be numeric, finite and as many as ``columns`` names."""
    where = str(path)
    header, body = _split(path.read_text(encoding="utf-8"))
    meta = _parse_header(header, where)
    n_col = len(meta["columns"].split())
    if not body:
        raise TableFormatError(f"{where}: no data rows")
    rows = []
    for lineno, line in body:
        tokens = line.split()
        if line.lstrip().startswith("#"):
            raise TableFormatError(f"{where}:{lineno}: comment line after the data started; the header comes first")
        if len(tokens) != n_col:
            raise TableFormatError(f"{where}:{lineno}: {len(tokens)} values; expected {n_col} "
                                   f"(columns: {meta['columns']})")
        try:
            rows.append([float(t) for t in tokens])
        except ValueError:
            raise TableFormatError(f"{where}:{lineno}: non-numeric value in {line.strip()!r}") from None
    data = np.array(rows, dtype=float)
    if not np.all(np.isfinite(data)):
        raise TableFormatError(f"{where}: non-finite values (nan/inf) in the data rows")
    return Table(meta=meta, data=data, path=where)


def format_number(value: float) -> str:
    """Shortest scientific notation that reads back to the same double, e.g. ``8.247e+02``."""
    return np.format_float_scientific(float(value), unique=True, trim="0", exp_digits=2)


def write_table(path: str | os.PathLike, meta: Mapping[str, str], data) -> Path:
    """Write a table in the fpgal format (header keys in :data:`HEADER_KEYS` order, then any others).

    Numbers are written so that :func:`read_table` returns exactly the doubles given.
    """
    path = Path(path)
    data = np.asarray(data, dtype=float)
    missing = [k for k in HEADER_KEYS if k not in meta]
    if missing:
        raise TableFormatError(f"{path}: meta lacks the keys {missing}")
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != len(str(meta["columns"]).split()):
        raise TableFormatError(f"{path}: data of shape {data.shape}; expected (n_rows ≥ 1, "
                               f"{len(str(meta['columns']).split())}) for columns {meta['columns']!r}")
    for key, value in meta.items():
        if "\n" in str(value) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise TableFormatError(f"{path}: header entry {key!r}: {value!r} must be one line with a plain key")
    keys = list(HEADER_KEYS) + sorted(k for k in meta if k not in HEADER_KEYS)
    header = [f"# {k}: {meta[k]}".rstrip() for k in keys]
    cells = [[format_number(v) for v in row] for row in data]
    widths = [max(len(c) for c in col) for col in zip(*cells)]
    rows = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return path


def list_tables(subdir: str, explicit: str | os.PathLike | None = None) -> list[DataPath]:
    """The ``*.txt`` tables of one sub-folder (``cosmic_rays``, ``gamma_rays``, ``neutrinos``), sorted by name."""
    folder = data_dir(explicit) / subdir
    if not folder.is_dir():
        raise DataNotFoundError(f"no {subdir}/ folder in the data directory {str(data_dir(explicit))!r}; "
                                f"expected the sub-folders {', '.join(SUBDIRS)}")
    return sorted((p for p in folder.iterdir() if p.name.endswith(".txt") and p.is_file()), key=lambda p: p.name)
