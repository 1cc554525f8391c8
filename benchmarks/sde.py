"""Benchmark of the SDE particle stepper: particle-steps per second.

Cases: uniform field and a Galactic field (UF23 base if fpgal.fields.UF23 exists, else an analytic
log-spiral disc field), each direct (field called every step; ∇·D by central differences = 7 field
evaluations per step) and through the trilinear lookup table of S and ∇·S (fpgal.sde.tabulate), for
the Itô and the CRPropa-compatible mode. Prints a table.

    python benchmarks/sde.py                 # 1 rank
    mpirun -n 2 python benchmarks/sde.py     # 2 ranks: per-rank share, total throughput
    python benchmarks/sde.py --quick         # fewer particles/steps

Runs ~1–3 min on one core.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fpgal.diffusion import BrokenPowerLaw, FieldAligned
from fpgal.fields import Uniform
from fpgal.sde import SDECoefficients, tabulate
from fpgal.sde.engine import simulate
from fpgal.sde.parallel import default_comm, rank_size


class LogSpiral:
    """Analytic disc field: logarithmic spiral (pitch 11.5°), |B| = 3 μG e^{−(r−8.5)/8} sech(z/0.5)
    (stand-in for UF23 until it exists)."""

    def __init__(self, pitch_deg: float = 11.5):
        self.t = np.tan(np.radians(pitch_deg))

    def __call__(self, xyz):
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        r = np.hypot(x, y) + 1e-9
        mag = 3.0 * np.exp(-(r - 8.5) / 8.0) / np.cosh(z / 0.5)
        cphi, sphi = x / r, y / r
        bx = self.t * cphi - sphi
        by = self.t * sphi + cphi
        n = np.sqrt(1 + self.t ** 2)
        return np.stack([mag * bx / n, mag * by / n, 0.1 * mag * np.sin(3 * np.arctan2(y, x))], axis=1)

    def __repr__(self):
        return "LogSpiral()"


def galactic_field():
    try:
        from fpgal.fields import UF23
        return "UF23(base)", UF23("base")
    except ImportError:
        return "log-spiral", LogSpiral()


def bench(coeffs, mode, n, steps, rng, comm):
    x = np.column_stack([rng.uniform(-12, 12, n), rng.uniform(-12, 12, n), rng.uniform(-1, 1, n)])
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    simulate(x, coeffs, [0.5 * 0.05 ** 2] * steps, rng, None, mode, None, trace_step_kpc=0.05)
    if comm is not None:
        comm.Barrier()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--table-spacing", type=float, default=0.1, help="lookup-table spacing [kpc]")
    args = ap.parse_args()
    comm = default_comm()
    rank, size = rank_size(comm)
    n_total = 40_000 if args.quick else 200_000
    steps = 10 if args.quick else 20
    n = n_total // size
    rng = np.random.default_rng(rank)
    dpar = BrokenPowerLaw(3e28)
    gname, gfield = galactic_field()
    cases = []
    for fname, field in (("uniform", Uniform((1.0, 2.0, 2.0))), (gname, gfield)):
        tensor = FieldAligned(field, 0.1, dpar)
        t0 = time.perf_counter()
        tab = tabulate(tensor, [-13, -13, -1.5], [13, 13, 1.5], args.table_spacing)
        t_tab = time.perf_counter() - t0
        cases += [(fname, "direct", "ito", SDECoefficients(tensor, 1000.0)),
                  (fname, f"table {args.table_spacing:g} kpc ({t_tab:.0f} s to build)", "ito",
                   SDECoefficients(tab, 1000.0)),
                  (fname, "direct", "crpropa", SDECoefficients(tensor, 1000.0))]
    if rank == 0:
        print(f"SDE stepper benchmark: {n_total} particles x {steps} steps on {size} rank(s)")
        print(f"{'field':<12} {'evaluation':<34} {'mode':<8} {'steps/s total':>14} {'steps/s/core':>13}")
    for fname, how, mode, coeffs in cases:
        dt = bench(coeffs, mode, n, steps, rng, comm)
        rate = n * size * steps / dt
        if rank == 0:
            print(f"{fname:<12} {how:<34} {mode:<8} {rate:14.3e} {rate / size:13.3e}")


if __name__ == "__main__":
    main()
