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

from ..core.files import atomic_path
from ..core.log import get_logger

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


class StageRunner:
    """Runs the stages of a study against its :class:`Manifest`, under MPI or not.

    ``run(name, key, func)`` skips the stage when the manifest says it is current (unless ``force``),
    else calls ``func() -> (outputs, info)`` — on rank 0 only, or on every rank for a
    ``collective_stage`` — records it and returns its manifest entry on every rank. An error on any
    rank ends every rank with the same message (:mod:`fpgal.mpi`). ``timings`` holds the seconds of the
    stages this runner ran.
    """

    def __init__(self, manifest: Manifest, force: bool = False):
        from ..core import mpi
        self.manifest, self.force, self.timings = manifest, bool(force), {}
        self._on_root = lambda fn: mpi.on_root(fn, mpi.world())
        self._collective = lambda fn: mpi.collective(fn, mpi.world())

    def info(self, name: str) -> dict:
        """The manifest entry of ``name`` (read on rank 0, the same on every rank)."""
        return self._on_root(lambda: self.manifest.info(name))

    def run(self, name: str, key: str, func, collective_stage: bool = False) -> dict:
        import time
        if not self.force and self._on_root(lambda: self.manifest.is_current(name, key)):
            log.info("stage %-22s up to date (skipped)", name)
            return self.info(name)
        t0 = time.perf_counter()
        outputs, info = self._collective(func) if collective_stage else self._on_root(func)

        def record():
            self.timings[name] = time.perf_counter() - t0
            self.manifest.record(name, key, outputs, {"info": info, "seconds": round(self.timings[name], 2)})
            log.info("stage %-22s done in %.1f s", name, self.timings[name])
            return self.manifest.info(name)
        return self._on_root(record)
