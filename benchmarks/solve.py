"""Benchmark of the grid transport solver on the Milky Way meshes.

Prints a table: mesh, cells, ε, ranks, assembly time, PCG iterations, solve time, wall time, peak
memory (max RSS per rank and summed). Field: UF23 base if fpgal.fields.UF23 exists, otherwise a
logarithmic-spiral disc field with an X-shaped halo component. Source: the pulsar distribution,
Cylinder(20, 4) boundary, D∥ = BrokenPowerLaw(3e28), factorized solve (one spatial problem).

Run (≈ 5 min on 2 cores):
    .venv/bin/python benchmarks/solve.py                       # all meshes, ε = 0.1, 0.01, 0.001, 1 and 2 ranks
    .venv/bin/python benchmarks/solve.py --mesh milkyway-0.5kpc --eps 0.001 --ranks 1
Targets: ≤ 60 iterations at ε = 1e-3; 0.25 kpc mesh < 60 s per energy on 2 cores; 2 ranks ≥ 1.7× faster.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


class LogSpiralField:
    """Disc: logarithmic spiral (pitch −11.5°), 3 μG, exp(−|z|/1 kpc); halo: X-field 1 μG poloidal."""

    def __call__(self, xyz):
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        R = np.hypot(x, y) + 1e-9
        phi = np.arctan2(y, x)
        p = np.deg2rad(-11.5)
        disc = 3.0 * np.exp(-np.abs(z) / 1.0) * np.exp(-R / 12.0)
        BR, Bphi = disc * np.sin(p), disc * np.cos(p)
        Bz = 1.0 * np.exp(-R / 5.0) * np.tanh(np.abs(z) / 0.5) + 0.05
        return np.stack([BR * np.cos(phi) - Bphi * np.sin(phi), BR * np.sin(phi) + Bphi * np.cos(phi), Bz], axis=1)

    def __repr__(self):
        return "LogSpiralField()"


def benchmark_field():
    try:
        from fpgal.fields import UF23
        return UF23("base"), "UF23 base"
    except Exception:  # noqa: BLE001 - fall back until UF23 exists
        return LogSpiralField(), "log-spiral (UF23 not available)"


def worker(mesh: str, eps: float) -> None:
    import fpgal
    from fpgal.diffusion import BrokenPowerLaw, FieldAligned
    from fpgal.sources import PulsarSpiral
    from fpgal.transport import solve_steady
    from mpi4py import MPI
    field, name = benchmark_field()
    grid = fpgal.Grid.from_mesh(mesh)
    tensor = FieldAligned(field, eps, BrokenPowerLaw(3e28))
    t0 = time.perf_counter()
    cr = solve_steady(grid, tensor, PulsarSpiral(), lambda E: 1.0, boundary=fpgal.Cylinder(20, 4))
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    comm = MPI.COMM_WORLD
    rss_max = comm.allreduce(rss, op=MPI.MAX)
    rss_sum = comm.allreduce(rss, op=MPI.SUM)
    if cr is not None:
        m = cr.meta
        print("RESULT " + json.dumps({
            "mesh": mesh, "cells": grid.n_cells, "eps": eps, "ranks": m["n_ranks"], "field": name,
            "assembly_s": m["assembly_time_s"], "setup_s": m["setup_time_s"], "iterations": m["iterations"],
            "solve_s": m["solve_time_s"], "wall_s": wall, "rss_max_MB": rss_max, "rss_sum_MB": rss_sum,
            "neg_cells": m["negative_cell_fraction"], "neg_weight": m["negative_weight_fraction"],
            "true_rel_res": m["true_relative_residual"]}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mesh", nargs="*", default=["milkyway-0.5kpc", "milkyway-0.25kpc"])
    ap.add_argument("--eps", nargs="*", type=float, default=[0.1, 0.01, 0.001])
    ap.add_argument("--ranks", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--worker", nargs=2, metavar=("MESH", "EPS"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--petsc", default="", help='PETSc options for the solves, e.g. "-pc_gamg_threshold 0.02"')
    args, _petsc_rest = ap.parse_known_args()
    if args.worker:
        worker(args.worker[0], float(args.worker[1]))
        return
    mpiexec = shutil.which("mpiexec") or "/usr/bin/mpiexec"
    rows = []
    head = (f"{'mesh':<18}{'cells':>9}{'eps':>7}{'ranks':>6}{'assembly s':>11}{'its':>5}{'solve s':>9}"
            f"{'wall s':>8}{'RSS/rank MB':>12}{'RSS sum MB':>11}{'neg cells':>10}{'neg weight':>11}")
    print(head)
    print("-" * len(head))
    for mesh in args.mesh:
        for eps in args.eps:
            for nr in args.ranks:
                cmd = [mpiexec, "-n", str(nr), sys.executable, __file__, "--worker", mesh, repr(eps)] + args.petsc.split()
                env = dict(os.environ, FPGAL_PROGRESS="0")
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not line:
                    print(f"{mesh:<18} eps={eps} ranks={nr}: FAILED\n{proc.stderr[-2000:]}")
                    continue
                r = json.loads(line[0][7:])
                rows.append(r)
                print(f"{mesh:<18}{r['cells']:>9}{eps:>7g}{nr:>6}{r['assembly_s']:>11.2f}{r['iterations']:>5}"
                      f"{r['solve_s']:>9.2f}{r['wall_s']:>8.1f}{r['rss_max_MB']:>12.0f}{r['rss_sum_MB']:>11.0f}"
                      f"{r['neg_cells']:>10.2e}{r['neg_weight']:>11.2e}", flush=True)
    if rows:
        print(f"field: {rows[0]['field']}")
        for mesh in args.mesh:
            for eps in args.eps:
                t = {r["ranks"]: r["wall_s"] for r in rows if r["mesh"] == mesh and r["eps"] == eps}
                if 1 in t and 2 in t:
                    print(f"speed-up 2 ranks {mesh} eps={eps:g}: {t[1] / t[2]:.2f}x (wall)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
