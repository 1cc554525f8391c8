"""Mesh-convergence benchmark of a study: `fpgal converge` with timings per mesh.

Solves the study (default: the embedded default study — UF23, pulsar sources, ε = 0.1, 0.01, 0.001)
on cubic meshes of the given spacings over the study's box, then prints, per mesh, the cells, the wall
time of the whole chain (solves, fit, sky maps, ratios) and the solve stages' time (from the run's
stages.json, so also after a resumed call); then the convergence table (change per refinement, observed order, Richardson error of
the finest value) and the findings with their errors (fpgal.studies.convergence).

Run (≈ 5 min on 2 cores for 1, 0.5, 0.25 kpc; resumable: a second call only re-reads the outputs):
    .venv/bin/python benchmarks/convergence.py                                  # 1, 0.5, 0.25 kpc, 2 ranks
    .venv/bin/python benchmarks/convergence.py --meshes 1,0.5,0.25,0.125 --np 2   # +6.6e6 cells, ≈ 11 GB
    .venv/bin/python benchmarks/convergence.py --config examples/icrc2025/study.toml --out conv-icrc
The table is the one of docs/validation.md §4 and §6.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(config: str | None, meshes: str, out: Path, n_ranks: int) -> float:
    """``fpgal converge`` as a user runs it (``--np``: fpgal launches mpiexec itself); wall seconds."""
    cmd = [sys.executable, "-m", "fpgal", "-q", "converge", *([config] if config else []), "--meshes", meshes,
           "--out", str(out), "--output-dir", str(out / "unused")]
    if n_ranks > 1:
        cmd += ["--np", str(n_ranks)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="study TOML (default: the embedded default study)")
    ap.add_argument("--meshes", default="1,0.5,0.25", help="cubic spacings in kpc, coarse to fine (default 1,0.5,0.25)")
    ap.add_argument("--np", type=int, default=2, help="MPI ranks (default 2)")
    ap.add_argument("--out", default="convergence-benchmark", help="output folder")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    wall = run(args.config, args.meshes, out, args.np)
    result = json.loads((out / "convergence.json").read_text())
    print(f"fpgal converge --meshes {args.meshes} --np {args.np}: {wall:.0f} s wall for this call "
          f"(a mesh whose outputs exist in {out} is only re-read: use a new --out for fresh timings)\n")
    print("| mesh | cells | chain wall, this call [s] | solve stages, when solved [s] |\n|---|---|---|---|")
    for m in result["meshes"]:
        print(f"| {m['spacing_kpc']:g} kpc | {m['n_cells']} | {m['wall_s']:.1f} | {m['solve_s']:.1f} |")
    print()
    print((out / "convergence.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
