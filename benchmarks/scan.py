"""Benchmark of `fpgal scan`: wall time of a scan and where it goes, and whether reusing the GAMG
hierarchy across ε would pay.

    nice -n 10 .venv/bin/python benchmarks/scan.py examples/scan.toml --np 2      # the default 9 × 10 scan
    .venv/bin/python benchmarks/scan.py --table scan-output                       # the table of a finished scan
    .venv/bin/python benchmarks/scan.py examples/scan.toml --gamg 0.1 0.01        # GAMG reuse, one rank

The scan prints one table per stage kind (count, total, mean, max seconds) and per solve the split into
assembly (tensor at the vertices + stencil + PETSc matrix), KSP (GAMG set-up + CG) and the rest, read
from the scan's own stage manifest (``stages.json``), so a resumed scan reports the times of the runs
that made each product. Target (issue 19): the default scan on the 0.5 kpc mesh ≤ 30 min on 2 cores.

``--gamg A B``: on the config's mesh and first model, the GAMG set-up time and the CG iterations of the
ε = B problem with a fresh hierarchy, against CG on the ε = B operator preconditioned by the hierarchy
built for ε = A (no set-up at all: the most that reusing it across ε can save).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def stage_table(out: Path) -> str:
    """Markdown: per stage kind, how many, total/mean/max seconds; per-solve split (means)."""
    entries = json.loads((out / "stages.json").read_text())
    kinds: dict[str, list[float]] = {}
    for name, e in entries.items():
        kinds.setdefault(name.split("/")[0], []).append(float(e.get("seconds", 0.0)))
    lines = ["| stage | count | total [s] | mean [s] | max [s] |", "|---|---|---|---|---|"]
    for k, s in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {k} | {len(s)} | {sum(s):.1f} | {np.mean(s):.2f} | {max(s):.2f} |")
    solves = [e for n, e in entries.items() if n.startswith("solve/")]
    if solves:
        get = lambda k: np.array([float(e["info"].get(k, np.nan)) for e in solves])  # noqa: E731
        tot, ksp, asm, its = (get("wall_time_s"), get("solve_time_s"), get("assembly_time_s"), get("iterations"))
        stage = np.array([float(e["seconds"]) for e in solves])
        lines += ["", "| per solve (mean over %d) | stage | solve_steady | KSP (GAMG set-up + CG) | assembly | CG iterations |"
                  % len(solves), "|---|---|---|---|---|---|",
                  f"| seconds | {stage.mean():.2f} | {tot.mean():.2f} | {ksp.mean():.2f} | {asm.mean():.2f} | "
                  f"{its.mean():.1f} (min {its.min():.0f}, max {its.max():.0f}) |"]
    return "\n".join(lines)


def run_scan(config: str, np_: str | None, extra: list[str]) -> tuple[float, Path]:
    from fpgal.commands import _overrides
    from fpgal.config import load_config
    cmd = [str(ROOT / ".venv/bin/fpgal"), "-q", "scan", config, *extra] + (["--np", np_] if np_ else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    sets = [extra[i + 1] for i, a in enumerate(extra) if a == "--set"]
    out = [extra[i + 1] for i, a in enumerate(extra) if a == "--output-dir"]
    cfg = load_config(config, _overrides(sets) | ({"output_dir": out[0]} if out else {}))
    return wall, Path(cfg.output_dir)


def _operator(cfg, eps: float):
    """(KrylovSolver with the assembled spatial operator of ε, its right-hand side) on one rank."""
    from fpgal import builders
    from fpgal.transport.problem import TransportProblem
    from fpgal.transport.solver import DistributedGrid, KrylovSolver
    from fpgal.petsc_options import solver_options
    from mpi4py import MPI
    grid = builders.build_grid(cfg)
    prob = TransportProblem(grid, builders.build_tensor(cfg, eps), builders.build_source(cfg),
                            builders.build_spectrum(cfg), boundary=builders.build_boundary(cfg))
    dgrid = DistributedGrid(grid, MPI.COMM_SELF)
    ksp = KrylovSolver(dgrid, symmetric=True, petsc_options=solver_options(cfg.solver), rtol=cfg.solver.rtol)
    prob._evaluate_inputs()
    box, unknown_pad, in_grid_pad, _, s = prob._setup_local(dgrid)
    held = [prob._spatial_stencil(box, unknown_pad, in_grid_pad, None)]
    prob._set_operator(dgrid, ksp, held, box, unknown_pad)
    return ksp, s / prob._scale


def gamg_reuse(config: str, eps_from: float, eps_to: float) -> str:
    """GAMG set-up and CG of ε = eps_to fresh, against CG preconditioned by the ε = eps_from hierarchy."""
    import dataclasses
    from fpgal.config import FieldConfig, load_config
    cfg = load_config(config)
    cfg = dataclasses.replace(cfg, field=FieldConfig(model=cfg.scan.models[0]))
    a, _ = _operator(cfg, eps_from)
    b, rhs = _operator(cfg, eps_to)
    rows = []
    for label, solver in (("fresh", b), (f"reuse ε = {eps_from:g}", a)):
        t0 = time.perf_counter()
        solver.ksp.setUp()                              # GAMG hierarchy (reused: already built for eps_from)
        t_setup = time.perf_counter() - t0
        if solver is a:
            a.ksp.setOperators(b.A, a.A)                # the ε = eps_to operator, eps_from's preconditioner
            a.A = b.A                                   # the true-residual check uses the ε = eps_to operator
        x, st = solver.solve(rhs, context=label)
        cost = st["solve_time_s"] + (t_setup if solver is b else 0.0)   # a's hierarchy is paid by its own ε
        rows.append(f"| {label} | {t_setup:.2f}{'' if solver is b else ' (paid by ε = %g)' % eps_from} | "
                    f"{st['iterations']} | {st['solve_time_s']:.2f} | {cost:.2f} | {st['true_relative_residual']:.1e} |")
    head = [f"GAMG reuse on {cfg.grid.mesh}, {cfg.field.model}, solving ε = {eps_to:g}:", "",
            "| hierarchy | set-up [s] | CG iterations | CG [s] | cost of this ε [s] | true rel. residual |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", default=str(ROOT / "examples/scan.toml"))
    p.add_argument("--np", help="MPI ranks for the scan (passed to fpgal scan --np)")
    p.add_argument("--table", help="only print the table of this finished scan folder")
    p.add_argument("--gamg", nargs=2, type=float, metavar=("EPS_FROM", "EPS_TO"))
    args, extra = p.parse_known_args(argv)
    if args.gamg:
        print(gamg_reuse(args.config, *args.gamg))
        return 0
    if args.table:
        print(stage_table(Path(args.table)))
        return 0
    wall, out = run_scan(args.config, args.np, extra)
    print(f"fpgal scan {args.config} {' '.join(extra)} --np {args.np or 1}: wall time {wall:.0f} s "
          f"({wall / 60:.1f} min)\n")
    print(stage_table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
