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


def stage_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


class Manifest:
    def __init__(self, output_dir: str | os.PathLike):
        self.dir = Path(output_dir)
        self.path = self.dir / "stages.json"
        self.entries: dict = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def is_current(self, name: str, key: str) -> bool:
        e = self.entries.get(name)
        return bool(e) and e.get("key") == key and all((self.dir / o).exists() for o in e.get("outputs", []))

    def record(self, name: str, key: str, outputs: list, info: dict | None = None) -> None:
        rel = [str(Path(o).resolve().relative_to(self.dir.resolve())) for o in outputs]
        self.entries[name] = {"key": key, "outputs": rel, **(info or {})}
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))

    def info(self, name: str) -> dict:
        return self.entries.get(name, {})
