"""Resumable stages: a manifest of finished stages keyed by the config that produced them.

``output_dir/stages.json`` maps a stage name to the hash of its inputs (the config sections it reads
and the keys of the stages it consumes) and its output files. A stage is skipped when its key is
unchanged and every output still exists; a changed config (or a missing file) reruns it and, through
the chained keys, everything downstream.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .io import atomic_path
from .log import get_logger

log = get_logger("stages")


def stage_key(*parts: str) -> str:
    """Short hash of ``parts`` (the texts of everything a stage reads)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


class Manifest:
    """``output_dir/stages.json``: finished stages, their keys and outputs.

    A damaged manifest (not JSON, not a table of stages, unreadable) is treated as empty with a
    warning: every stage then reruns, and the next :meth:`record` writes a valid file.
    ``read=False`` starts empty without looking at the file (the non-root MPI ranks).
    """

    def __init__(self, output_dir: str | os.PathLike, read: bool = True):
        self.dir = Path(output_dir)
        self.path = self.dir / "stages.json"
        self.entries: dict = self._read() if read else {}

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._damaged(f"{type(exc).__name__}: {exc}")
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            return self._damaged("expected a JSON table of stages")
        return entries

    def _damaged(self, why: str) -> dict:
        log.warning("stage manifest %s is damaged (%s): ignoring it, every stage reruns", self.path, why)
        return {}

    def is_current(self, name: str, key: str) -> bool:
        e = self.entries.get(name)
        return isinstance(e, dict) and e.get("key") == key and all((self.dir / o).exists() for o in e.get("outputs") or [])

    def record(self, name: str, key: str, outputs: list, info: dict | None = None) -> None:
        rel = [str(Path(o).resolve().relative_to(self.dir.resolve())) for o in outputs]
        self.entries[name] = {"key": key, "outputs": rel, **(info or {})}
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))

    def info(self, name: str) -> dict:
        return self.entries.get(name, {})
