"""Locate the published reference data (``../shared/data``), which is never copied into the repo.

Order: explicit argument / config key ``data_dir`` → environment variable ``FPGAL_DATA`` →
``../shared/data`` relative to the repository root.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


class DataNotFoundError(FileNotFoundError):
    pass


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The reference-data directory; raises :class:`DataNotFoundError` with a clear message if absent."""
    if explicit:
        candidate, origin = Path(explicit), "the data_dir setting"
    elif os.environ.get("FPGAL_DATA"):
        candidate, origin = Path(os.environ["FPGAL_DATA"]), "the FPGAL_DATA environment variable"
    else:
        candidate, origin = DEFAULT_DATA_DIR, "the default ../shared/data beside the repository"
    if not candidate.is_dir():
        raise DataNotFoundError(
            f"reference data directory {str(candidate)!r} (from {origin}) does not exist. fpgal reads published "
            "tables (CR fluxes, gamma-ray spectra, GMF reference values) from there; set FPGAL_DATA or the "
            "config key data_dir to the folder that holds cosmic_rays/, gamma_rays/, gmf/ and gas/.")
    return candidate


def data_file(relative: str, explicit: str | os.PathLike | None = None) -> Path:
    """Path of one reference table, e.g. ``data_file("gmf/uf23_reference.txt")``."""
    path = data_dir(explicit) / relative
    if not path.is_file():
        raise DataNotFoundError(f"reference table {str(path)!r} not found in the data directory")
    return path
