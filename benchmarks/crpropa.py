"""The CRPropa benchmark problem (docs/validation.md §1) with the three methods at small sizes: a table of
mean residence time, Sun density, wall and CPU time.

    python benchmarks/crpropa.py                         # grid 1 and 0.5 kpc, Itô and CRPropa mode, 400 particles
    python benchmarks/crpropa.py --n-particles 2000 --mesh-kpc 0.5 0.25
    python benchmarks/crpropa.py --step 0.1              # SDE rms step in kpc (default: the SDE's own choice)

Each row is one call of the function behind ``fpgal benchmark crpropa`` (outputs in a temporary
folder). Runs ~2–5 min on one core at the defaults.
"""
from __future__ import annotations

import argparse
import json
import tempfile

from fpgal.studies.crpropa_benchmark import run_benchmark


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh-kpc", type=float, nargs="+", default=[1.0, 0.5], help="grid meshes (kpc)")
    ap.add_argument("--n-particles", type=int, default=400, help="SDE particles per mode")
    ap.add_argument("--step", type=float, default=None, help="SDE rms step (kpc)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    runs = [("grid", dict(mesh_kpc=h)) for h in args.mesh_kpc]
    runs += [(m, dict(n_particles=args.n_particles, seed=args.seed, step_kpc=args.step)) for m in ("ito", "crpropa")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (method, kw) in enumerate(runs):
            run_benchmark(method, f"{tmp}/{k}", **kw)
            with open(f"{tmp}/{k}/summary.json") as fh:
                s = json.load(fh)
            size = f"{kw['mesh_kpc']:g} kpc" if method == "grid" else f"{s['n_particles']} p, step {s['rms_step_kpc']:.3g} kpc"
            err = s.get("mean_residence_err_Myr")
            sun_err = s.get("sun_cube_1kpc_err_s_kpc3")
            rows.append((method, size, f"{s['mean_residence_Myr']:.2f}" + (f" ± {err:.2f}" if err else ""),
                         f"{s['sun_cube_1kpc_s_kpc3']:.3g}" + (f" ± {sun_err:.1g}" if sun_err else ""),
                         f"{s['sun_sphere_s_kpc3']:.3g}", f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}",
                         str(s.get("steps", ""))))
            print(" | ".join(rows[-1]), flush=True)
    head = ("method", "size", "mean residence [Myr]", "Sun 1-kpc cube [s/kpc³]", "Sun 100 pc", "wall [s]", "cpu [s]",
            "particle steps")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
