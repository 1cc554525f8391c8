"""Benchmark of the SDE particle engines: particle steps per CPU-second next to CRPropa 3's figure.

Problem: the CRPropa benchmark of docs/validation.md §1 — UF23 base, 1 TeV protons, CRPropa's D∥
(3.84e29 cm²/s), ε = 0.1, absorbing cylinder R = 20 kpc, |z| = 4 kpc, time step 1 kpc/c (rms parallel
step 0.091 kpc) — with particles started at the Sun's galactocentric radius in the disc and followed for a
fixed number of steps (most stay inside; absorbed ones stop). Engines:

* ``numpy``, field called at every step (the reference implementation; ∇·D by central differences,
  7 field evaluations per Itô step; 6 per Cash–Karp substep in CRPropa mode),
* ``numpy``, lookup table (:mod:`fpgal.sde.table`),
* ``numba``, lookup table (:mod:`fpgal.sde.kernels`, the default where it applies).

    python benchmarks/sde.py                 # 1 rank, ~3 min
    mpirun -n 2 python benchmarks/sde.py     # 2 ranks: per-rank share, steps per CPU-second summed
    python benchmarks/sde.py --quick

CPU time is ``time.process_time`` of the stepping alone (table building and compilation excluded and
reported separately), summed over ranks.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fpgal import Cylinder
from fpgal.sde import SDECoefficients
from fpgal.sde.engine import simulate
from fpgal.sde.kernels import run_residence_chunk
from fpgal.sde.parallel import default_comm, rank_size
from fpgal.sde.table import tabulate, tabulate_frame
from fpgal.studies.crpropa_benchmark import CRPROPA_STEPS_PER_CPU_S, build_problem, histogram_grid
from fpgal import units


def start_points(n: int, rng) -> np.ndarray:
    phi = rng.uniform(0, 2 * np.pi, n)
    r = rng.uniform(6.0, 10.0, n)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), rng.normal(0.0, 0.1, n)])


def cpu_of(fn, comm) -> float:
    if comm is not None:
        comm.Barrier()
    t0 = time.process_time()
    fn()
    dt = time.process_time() - t0
    return dt if comm is None else comm.allreduce(dt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lookup-kpc", type=float, default=0.1, help="lookup-table spacing [kpc]")
    args = ap.parse_args()
    comm = default_comm()
    rank, size = rank_size(comm)
    problem = build_problem()
    tensor = problem.tensor
    dt_s = units.kpc_cm / units.c_cm_s                        # 1 kpc/c, CRPropa's step on this problem
    coeffs = SDECoefficients(tensor, problem.E_GeV)
    dtau = coeffs.tau_kpc2(dt_s)
    grid = histogram_grid(problem.E_GeV)
    boundary = Cylinder(20.0, 4.0)
    lo, hi = grid.lower_kpc, grid.upper_kpc
    t0 = time.perf_counter()
    tables = {"ito": tabulate(tensor, lo, hi, args.lookup_kpc), "crpropa": tabulate_frame(tensor, lo, hi, args.lookup_kpc)}
    t_tab = time.perf_counter() - t0
    rng = np.random.default_rng(rank)
    n_np, steps_np = (200, 10) if args.quick else (2000, 20)
    n_nb, steps_nb = (2000, 200) if args.quick else (20000, 400)
    rows = []
    for mode in ("ito", "crpropa"):
        for how, used in (("field at every step", tensor), (f"table {args.lookup_kpc:g} kpc", tables[mode])):
            c = SDECoefficients(used, problem.E_GeV)
            x = start_points(n_np // size, rng)
            cpu = cpu_of(lambda: simulate(x, c, [dtau] * steps_np, rng, boundary, mode), comm)
            rows.append(("numpy", how, mode, n_np * steps_np, cpu))   # upper bound of the steps (absorbed stop)
        x = start_points(n_nb // size, rng)
        run_residence_chunk(x[:2], tables[mode], mode, dtau, 2, boundary, grid, 1, rng)    # compile / load
        counts = {}

        def kernel_run(x=x, mode=mode, counts=counts):
            counts.update(run_residence_chunk(x, tables[mode], mode, dtau, steps_nb, boundary, grid, 1, rng)[1])
        cpu = cpu_of(kernel_run, comm)
        steps = counts["steps"] if comm is None else comm.allreduce(counts["steps"])
        rows.append(("numba", f"table {args.lookup_kpc:g} kpc", mode, steps, cpu))
    if rank == 0:
        print(f"SDE engines on the CRPropa benchmark (UF23 base, 1 TeV, dt = 1 kpc/c, rms step "
              f"{np.sqrt(2 * dtau):.3f} kpc), {size} rank(s); tables built in {t_tab:.0f} s")
        print(f"{'engine':<7} {'tensor':<20} {'mode':<8} {'particle steps':>14} {'CPU s':>8} {'steps/CPU-s':>12} "
              f"{'× CRPropa':>9}")
        for engine, how, mode, steps, cpu in rows:
            rate = steps / cpu
            print(f"{engine:<7} {how:<20} {mode:<8} {steps:14d} {cpu:8.2f} {rate:12.3e} "
                  f"{rate / CRPROPA_STEPS_PER_CPU_S:9.2f}")
        print(f"CRPropa 3 DiffusionSDE (C++, direct UF23, issue 17): {CRPROPA_STEPS_PER_CPU_S:.2e} steps per CPU-second")


if __name__ == "__main__":
    main()
