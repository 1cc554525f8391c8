"""GAMG option trials on one saved operator: CG iterations, set-up and solve time, memory per cell.

Step 1 writes the operator A and right-hand side b of one default-study solve (UF23 base, pulsar
source, Cylinder(20, 4), factorized) to PETSc binary files, through benchmarks/solve.py:

    .venv/bin/python benchmarks/gamg_options.py dump --mesh meshes/milkyway-0.25kpc.toml --eps 0.001 --out /tmp/A

Step 2 solves A x = b with fpgal's default solver options plus each option set (one per argument or
one per line of --file), under mpiexec, and prints a table:

    .venv/bin/python benchmarks/gamg_options.py trial --ops /tmp/A --np 2 "" "-mg_levels_ksp_max_it 4" \
        "-matptap_via allatonce"

"extra kB/cell" is the growth of the ranks' summed peak RSS from before the KSP set-up to the end of
the solve, per cell: GAMG's hierarchy and transients plus the Krylov vectors (the matrix excluded).
The 0.125 kpc mesh (not shipped; 320 × 320 × 64 cells) is a copy of meshes/milkyway-0.25kpc.toml with
the cell counts doubled. Results on this machine: docs/numerics.md, "The 0.125 kpc operator".
"""
from __future__ import annotations

import argparse
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def dump(mesh: str, eps: float, out: Path) -> None:
    """Run one benchmarks/solve.py solve that also writes A and b (PETSc's -ksp_view_mat/-ksp_view_rhs)."""
    out.mkdir(parents=True, exist_ok=True)
    views = f"-ksp_view_mat binary:{out / 'A.bin'} -ksp_view_rhs binary:{out / 'b.bin'}"
    subprocess.run([sys.executable, str(HERE.parent / "solve.py"), "--mesh", mesh, "--eps", repr(eps),
                    "--ranks", "1", "--petsc", views], check=True)


def _worker(ops: Path, extra: list[str]) -> None:
    import petsc4py
    petsc4py.init([sys.argv[0]] + extra)
    from petsc4py import PETSc

    from fpgal.transport.solver import default_options
    comm = PETSc.COMM_WORLD
    opts = PETSc.Options()
    for key, value in default_options().items():
        if not opts.hasName(key):
            opts.setValue(key, value)
    A = _load(PETSc.Mat(), ops / "A.bin", comm)
    b = _load(PETSc.Vec(), ops / "b.bin", comm)
    A.setOption(PETSc.Mat.Option.SPD, True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ksp = PETSc.KSP().create(comm=comm)
    ksp.setOperators(A)
    ksp.setFromOptions()
    x = b.duplicate()
    t0 = time.perf_counter()
    ksp.setUp()
    t1 = time.perf_counter()
    ksp.solve(b, x)
    t2 = time.perf_counter()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    total_kB = comm.tompi4py().allreduce(grown)
    if comm.rank == 0:
        print(f"ROW {ksp.getIterationNumber()} {ksp.getConvergedReason()} {t1 - t0:.1f} {t2 - t1:.1f} "
              f"{ksp.getPC().getMGLevels()} {total_kB / A.getSize()[0]:.3f}", flush=True)
    for obj in (ksp, A, b, x):
        obj.destroy()


def _load(obj, path: Path, comm):
    from petsc4py import PETSc
    viewer = PETSc.Viewer().createBinary(str(path), "r", comm=comm)
    obj.load(viewer)
    viewer.destroy()
    return obj


def trial(ops: Path, n_ranks: int, option_sets: list[str]) -> None:
    launcher = shutil.which("mpiexec") or "/usr/bin/mpiexec"
    print(f"{'options (besides the defaults)':60s} {'its':>4s} {'setup s':>8s} {'solve s':>8s} {'levels':>6s} "
          f"{'extra kB/cell':>13s}")
    for text in option_sets:
        cmd = [launcher, "-n", str(n_ranks), sys.executable, str(HERE), "worker", "--ops", str(ops), "--"]
        proc = subprocess.run(cmd + shlex.split(text), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        rows = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        if not rows:
            print(f"{text or '(defaults)':60s} FAILED: {(proc.stderr.strip().splitlines() or ['?'])[-1][:60]}")
            continue
        its, reason, setup, solve, levels, extra = rows[0]
        print(f"{text or '(defaults)':60s} {its:>4s} {setup:>8s} {solve:>8s} {levels:>6s} {extra:>13s}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--mesh", required=True)
    d.add_argument("--eps", type=float, default=0.001)
    d.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("trial")
    t.add_argument("--ops", type=Path, required=True)
    t.add_argument("--np", type=int, default=2)
    t.add_argument("--file", type=Path, help="one option set per line")
    t.add_argument("sets", nargs="*", help='option sets, e.g. "" (defaults) "-mg_levels_ksp_max_it 4"')
    w = sub.add_parser("worker")
    w.add_argument("--ops", type=Path, required=True)
    w.add_argument("extra", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.mesh, args.eps, args.out)
    elif args.cmd == "trial":
        sets = list(args.sets) + (args.file.read_text().splitlines() if args.file else [])
        trial(args.ops, args.np, sets or [""])
    else:
        _worker(args.ops, [a for a in args.extra if a != "--"])


if __name__ == "__main__":
    main()
