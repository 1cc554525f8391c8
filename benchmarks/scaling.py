"""Strong and weak scaling of the grid solver over MPI ranks (issue 17): iterations, memory per rank, time.

Iteration counts and memory per rank do not depend on the machine, so ranks may oversubscribe the cores
(then wall times measure nothing but the count of cores; they are printed for runs where every rank has
its own core). Runs the worker of benchmarks/solve.py (UF23 base, pulsar source, Cylinder(20, 4),
factorized solve) under ``mpiexec -n N`` without core binding.

    .venv/bin/python benchmarks/scaling.py                        # strong 0.25 kpc, weak 102 400 cells/rank, ε = 1e-3
    .venv/bin/python benchmarks/scaling.py --eps 0.1 --ranks 1 2 4 8 --kind strong

Strong: the 0.25 kpc mesh (819 200 cells) on 1, 2, 4, 8 ranks. Weak: 102 400 cells per rank — the
0.5 kpc mesh on 1 rank, spacings 0.5 / N^(1/3) kpc on N ranks (0.25 kpc on 8).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from solve import run_worker  # noqa: E402  (the benchmark's worker: one solve, one JSON line)


def weak_mesh(folder: Path, ranks: int) -> str:
    """A Milky Way box (±20, ±20, ±4 kpc) with about 102 400 × ranks cells."""
    h = 0.5 / ranks ** (1.0 / 3.0)
    nxy, nz = round(40.0 / h), round(8.0 / h)
    path = folder / f"weak_{ranks}.toml"
    path.write_text(f'name = "weak-{ranks}"\n[space]\nx_kpc = [-20.0, 20.0, {nxy}]\ny_kpc = [-20.0, 20.0, {nxy}]\n'
                    f'z_kpc = [-4.0, 4.0, {nz}]\n[energy]\nE_min_GeV = 1000.0\nE_max_GeV = 1000.0\nn_E = 1\n')
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--ranks", nargs="*", type=int, default=[1, 2, 4, 8])
    ap.add_argument("--kind", choices=("strong", "weak", "both"), default="both")
    ap.add_argument("--mesh", default="milkyway-0.25kpc", help="mesh of the strong-scaling runs")
    args = ap.parse_args()
    mpiexec = [shutil.which("mpiexec") or "/usr/bin/mpiexec"]
    head = (f"{'kind':<7}{'ranks':>6}{'cells':>9}{'cells/rank':>11}{'its':>5}{'RSS/rank MB':>12}{'RSS sum MB':>11}"
            f"{'kB/cell':>8}{'setup s':>8}{'solve s':>8}{'wall s':>8}")
    print(head + "\n" + "-" * len(head), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        if args.kind in ("strong", "both"):
            cases += [("strong", n, args.mesh) for n in args.ranks]
        if args.kind in ("weak", "both"):
            cases += [("weak", n, weak_mesh(Path(tmp), n)) for n in args.ranks]
        for kind, n, mesh in cases:
            r, err = run_worker(mpiexec, n, ["--worker", mesh, repr(args.eps)], "RESULT ")
            if r is None:
                print(f"{kind:<7}{n:>6}  FAILED: {err[-300:]}", flush=True)
                continue
            print(f"{kind:<7}{n:>6}{r['cells']:>9}{r['cells'] // n:>11}{r['iterations']:>5}{r['rss_max_MB']:>12.0f}"
                  f"{r['rss_sum_MB']:>11.0f}{r['rss_sum_MB'] * 1024 / r['cells']:>8.2f}{r['setup_s']:>8.1f}"
                  f"{r['solve_s']:>8.1f}{r['wall_s']:>8.1f}", flush=True)
    print(f"ε = {args.eps:g}, UF23 base, pulsar source, Cylinder(20, 4); RSS = peak resident set (VmHWM) per rank")


if __name__ == "__main__":
    main()
