"""Peak memory of one factorized grid solve, phase by phase (issue 17).

Resets the kernel's high-water mark (VmHWM, /proc/self/clear_refs) between the phases of the solve —
tensor + stencil, PETSc matrix, GAMG set-up + CG — and prints each phase's peak, in MB and in kB per
cell. Linux only. UF23 base, pulsar source, Cylinder(20, 4), one rank.

    .venv/bin/python benchmarks/memory.py milkyway-0.25kpc --eps 0.1
    .venv/bin/python benchmarks/memory.py milkyway-0.1kpc --eps 0.001      # ≈ 11 GB, ~20 CPU-min
    .venv/bin/python benchmarks/memory.py milkyway-0.25kpc --petsc pc_gamg_threshold=-1
"""
from __future__ import annotations

import argparse


def _status_MB() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024.0
    return out


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mesh", nargs="?", default="milkyway-0.25kpc")
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--petsc", nargs="*", default=[], help="PETSc options as key=value (no dash)")
    args = ap.parse_args()

    import fpgal
    from fpgal.diffusion import BrokenPowerLaw, FieldAligned
    from fpgal.transport import problem, solver

    grid = fpgal.Grid.from_mesh(args.mesh)
    rows = []

    def mark(phase: str) -> None:
        d = _status_MB()
        rows.append((phase, d["VmRSS"], d["VmHWM"]))
        _reset_peak()

    def wrap(owner, name: str, before: str, after: str) -> None:
        original = getattr(owner, name)

        def wrapped(*a, **k):
            mark(before)
            result = original(*a, **k)
            mark(after)
            return result
        setattr(owner, name, wrapped)

    wrap(problem.TransportProblem, "_spatial_stencil", "set-up (source, masks)", "tensor + 27-point stencil")
    wrap(solver.KrylovSolver, "set_operator_rows", "(stencil scaled)", "PETSc matrix (streamed)")
    wrap(solver.KrylovSolver, "solve", "(before the solve)", "GAMG set-up + CG")
    options = dict(item.split("=", 1) for item in args.petsc)
    _reset_peak()
    mark("start")
    cr = fpgal.solve_steady(grid, FieldAligned(fpgal.fields.UF23("base"), args.eps, BrokenPowerLaw(3e28)),
                            fpgal.sources.PulsarSpiral(), lambda E: 1.0, boundary=fpgal.Cylinder(20, 4),
                            petsc_options=options)
    n = grid.n_cells
    print(f"{args.mesh}: {n} cells, ε = {args.eps:g}, {cr.meta['iterations']} CG iterations, options {options}")
    print(f"{'phase (peak within it)':<30}{'RSS after MB':>14}{'peak MB':>10}{'kB/cell':>9}")
    for phase, rss, peak in rows[1:]:
        if not phase.startswith("("):
            print(f"{phase:<30}{rss:>14.0f}{peak:>10.0f}{peak * 1024 / n:>9.2f}")
    print(f"overall peak: {max(p for _, _, p in rows):.0f} MB = {max(p for _, _, p in rows) * 1024 / n:.2f} kB/cell")


if __name__ == "__main__":
    main()
