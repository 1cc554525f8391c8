"""Benchmark: time to evaluate the field models at 1e6 random points on one core.

Run:  OMP_NUM_THREADS=1 python benchmarks/fields.py [--n 1000000] [--repeat 3]
Target: UF23 base at 1e6 points < 2 s. Prints a table of the best of ``repeat`` runs.
Points are uniform in a box |x|, |y| < 20 kpc, |z| < 5 kpc (where the models are non-trivial).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


from fpgal.fields import JF12, UF23, XField, Ring  # noqa: E402


def _time(field, pts, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        field(pts)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    pts = rng.uniform([-20, -20, -5], [20, 20, 5], size=(args.n, 3))
    models = [(f"UF23 {m}", UF23(m)) for m in UF23.MODELS]
    models += [("JF12 regular", JF12(solenoidal=False)), ("JF12 solenoidal", JF12(solenoidal=True)),
               ("Ring", Ring(1.0)), ("XField", XField())]
    print(f"field evaluation at {args.n:.0e} points, best of {args.repeat} (1 core)")
    print(f"{'model':<18} {'time [s]':>9} {'points/s':>11}")
    for name, f in models:
        t = _time(f, pts, args.repeat)
        print(f"{name:<18} {t:9.3f} {args.n / t:11.3e}")
    t = _time(UF23("base"), pts, args.repeat)
    print(f"target UF23 base < 2 s at 1e6 points: {'met' if t * 1e6 / args.n < 2.0 else 'MISSED'} "
          f"({t * 1e6 / args.n:.3f} s per 1e6)")


if __name__ == "__main__":
    main()
