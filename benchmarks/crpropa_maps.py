"""Figure and annulus table of CRPropa-benchmark outputs (docs/validation.md §1).

    python benchmarks/crpropa_maps.py grid=bm/grid-0.25 ito=bm/ito crpropa=bm/crpropa --out fig.png

Each argument is LABEL=DIR of one `fpgal benchmark crpropa --out DIR` run (the first is the reference).
Prints the annulus column ratios to the reference with their 1σ and the Sun cubes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fpgal.plots.benchmark import R_EDGES_KPC, annulus_ratios, plot_benchmark
from fpgal.studies.crpropa_benchmark import HIST_EDGES_KPC


def load(d: Path):
    hist = np.load(d / "residence_s_per_cell.npy")
    err_file = d / "residence_err_s_per_cell.npy"
    err = np.load(err_file) if err_file.is_file() else None
    s = json.loads((d / "summary.json").read_text())
    return hist, err, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="LABEL=DIR, the first is the reference")
    ap.add_argument("--out", required=True, help="PNG file")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    runs, cubes, ref = {}, {}, None
    for item in args.runs:
        label, d = item.split("=", 1)
        hist, err, s = load(Path(d))
        runs[label] = (hist, err)
        cubes[label] = (s["sun_cube_1kpc_s_kpc3"], s.get("sun_cube_1kpc_err_s_kpc3"))
        ref = ref if ref is not None else hist
    plot_benchmark(runs, HIST_EDGES_KPC, args.out, args.title, cubes)
    head = " | ".join(f"R {a:g}–{b:g}" for a, b in zip(R_EDGES_KPC[:-1], R_EDGES_KPC[1:]))
    print(f"| method / {list(runs)[0]} | {head} | Sun 1-kpc cube |")
    print("|---" * (len(R_EDGES_KPC) + 1) + "|")
    v0 = cubes[list(runs)[0]][0]
    for label, (hist, err) in list(runs.items())[1:]:
        r, e = annulus_ratios(hist, ref, err, HIST_EDGES_KPC)
        v, ve = cubes[label]
        cells = " | ".join(f"{x:.3f} ± {y:.3f}" for x, y in zip(r, e))
        print(f"| {label} | {cells} | {v / v0:.3f} ± {(ve or 0) / v0:.3f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
