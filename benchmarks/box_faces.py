"""Convergence of the grid operator at the escape boundaries: manufactured tilted-tensor solutions.

Box (n = 0 on the faces of [0, 4] × [0, 3] × [0, 2] kpc), uniform field-aligned tensor
``D = D∥ (ε I + (1 − ε) b bᵀ)``, D∥ = 1e28 cm²/s, and the manufactured solution

    n(x) = sin(πx/Lx) sin(πy/Ly) sin(πz/Lz),
    Q = −∇·(D∇n) = Σ_i D_ii k_i² n − Σ_{i≠j} D_ij k_i k_j cos(k_i x_i) cos(k_j x_j) sin(k_m x_m)

(k_i = π/L_i, m the third axis; the mixed terms do not vanish on the faces, so the anisotropic
face flux is exercised). Cylinder (n = 0 at r = R = 4 kpc and |z| = H = 2 kpc, staircase in r):

    n = (1 − r²/R²) cos(πz/2H),
    Q = D_xx (2/R²) c + D_yy (2/R²) c + D_zz k² f c − 2 D_xz (2kx/R²) s − 2 D_yz (2ky/R²) s

(f = 1 − r²/R², c = cos kz, s = sin kz, k = π/2H). Q is taken at the cell centres (its cell
average differs by O(h²)). Errors are max |n_h − n| over the unknown cells, relative to max n = 1;
the observed order is log₂ of the ratio of successive errors (h halves).

Run (≈ 1 min on 1 core; the 60×45×30 box solve ≈ 10 s):
    .venv/bin/python benchmarks/box_faces.py                 # both tables, ε = 0.1, b ∝ (1, 2, 2)
    .venv/bin/python benchmarks/box_faces.py --face-weight 1 # the former face treatment (first order)
    .venv/bin/python benchmarks/box_faces.py --eps 0.01 --b 1,2,0.5 --no-cylinder
    .venv/bin/python benchmarks/box_faces.py --galaxy milkyway-0.5kpc,milkyway-0.25kpc --galaxy-eps 0.1
        # + the Milky Way at 1 TeV with the face weight 1 and ½ (≈ 3 min)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fpgal import units
from fpgal.boundary import Cylinder
from fpgal.diffusion import FieldAligned
from fpgal.fields import Uniform
from fpgal.grid import Grid
from fpgal.transport import stencil as op
from fpgal.transport import solve_steady

D_PAR_CM2_S = 1.0e28
BOX_KPC = np.array([4.0, 3.0, 2.0])
CYL_R_KPC, CYL_H_KPC = 4.0, 2.0


def tilted_tensor(b: np.ndarray, eps: float) -> np.ndarray:
    """D = D∥ (ε I + (1 − ε) b̂ b̂ᵀ) in cm²/s."""
    bh = np.asarray(b, dtype=float) / np.linalg.norm(b)
    return D_PAR_CM2_S * (eps * np.eye(3) + (1.0 - eps) * np.outer(bh, bh))


def box_exact(xyz_kpc: np.ndarray) -> np.ndarray:
    return np.prod(np.sin(np.pi * xyz_kpc / BOX_KPC), axis=-1)


def box_source(D: np.ndarray):
    """Q(x) = −∇·(D∇n) for :func:`box_exact`, in s⁻¹ (n dimensionless)."""
    k = np.pi / (BOX_KPC * units.kpc_cm)

    def Q(xyz_kpc: np.ndarray) -> np.ndarray:
        s, c = np.sin(np.pi * xyz_kpc / BOX_KPC), np.cos(np.pi * xyz_kpc / BOX_KPC)
        q = np.sum(np.diag(D) * k ** 2) * np.prod(s, axis=1)
        for i, j in ((0, 1), (0, 2), (1, 2)):
            q -= 2.0 * D[i, j] * k[i] * k[j] * c[:, i] * c[:, j] * s[:, 3 - i - j]
        return q
    return Q


def cylinder_exact(xyz_kpc: np.ndarray) -> np.ndarray:
    r2 = xyz_kpc[..., 0] ** 2 + xyz_kpc[..., 1] ** 2
    return (1.0 - r2 / CYL_R_KPC ** 2) * np.cos(np.pi * xyz_kpc[..., 2] / (2 * CYL_H_KPC))


def cylinder_source(D: np.ndarray):
    """Q(x) = −∇·(D∇n) for :func:`cylinder_exact`, in s⁻¹."""
    R, k = CYL_R_KPC * units.kpc_cm, np.pi / (2 * CYL_H_KPC * units.kpc_cm)

    def Q(xyz_kpc: np.ndarray) -> np.ndarray:
        x, y, z = (xyz_kpc[:, i] * units.kpc_cm for i in range(3))
        f, c, s = 1.0 - (x ** 2 + y ** 2) / R ** 2, np.cos(k * z), np.sin(k * z)
        return ((D[0, 0] + D[1, 1]) * 2.0 / R ** 2 * c + D[2, 2] * k ** 2 * f * c
                - 2.0 * (D[0, 2] * x + D[1, 2] * y) * 2.0 * k / R ** 2 * s)
    return Q


def solve_error(grid: Grid, b: np.ndarray, eps: float, case: str) -> tuple[float, int, float]:
    """(max error / max n, CG iterations, wall s) of the manufactured ``case`` ("box"/"cylinder")."""
    D = tilted_tensor(b, eps)
    t0 = time.perf_counter()
    if case == "box":
        cr = solve_steady(grid, FieldAligned(Uniform(b), eps, D_PAR_CM2_S), box_source(D), lambda E: 1.0,
                          source_points=1)
        mask, exact = np.ones(grid.shape, bool), box_exact(grid.cell_centers_kpc())
    else:
        boundary = Cylinder(CYL_R_KPC, CYL_H_KPC)
        cr = solve_steady(grid, FieldAligned(Uniform(b), eps, D_PAR_CM2_S), cylinder_source(D), lambda E: 1.0,
                          boundary=boundary, source_points=1)
        pts = grid.cell_centers_kpc()
        mask = boundary.inside(pts.reshape(-1, 3)).reshape(grid.shape)
        exact = cylinder_exact(pts)
    err = float(np.abs(cr.density[0] - exact)[mask].max())
    return err, int(cr.meta["iterations"]), time.perf_counter() - t0


def table(case: str, meshes: list[tuple[int, int, int]], b: np.ndarray, eps: float) -> None:
    """Print error, observed order (for h halving), iterations and time per mesh."""
    size = BOX_KPC if case == "box" else np.array([2 * CYL_R_KPC, 2 * CYL_R_KPC, 2 * CYL_H_KPC])
    print(f"\n{case}: ε = {eps:g}, b ∝ {tuple(float(v) for v in b)}, face weight {op.FACE_VERTEX_WEIGHT:g}")
    print("| cells | h (kpc) | max error / max n | observed order | CG its | s |")
    print("|---|---|---|---|---|---|")
    done: list[tuple[float, float]] = []   # (h, error) of the meshes so far
    for n in meshes:
        lo = np.zeros(3) if case == "box" else -size / 2
        grid = Grid(*((float(lo[a]), float(lo[a] + size[a]), n[a]) for a in range(3)), E_GeV=np.array([100.0]))
        err, its, wall = solve_error(grid, b, eps, case)
        h = float(grid.spacing_kpc[0])
        # order against the finest earlier mesh at least 1.5× coarser
        ref = [(hp, ep) for hp, ep in done if hp >= 1.5 * h]
        order = f"{np.log(ref[-1][1] / err) / np.log(ref[-1][0] / h):.2f}" if ref else "–"
        print(f"| {n[0]}×{n[1]}×{n[2]} | {h:.4g} | {err:.3e} | {order} | {its} | {wall:.1f} |", flush=True)
        done.append((h, err))


def galaxy_table(meshes: list[str], eps_list: list[float]) -> None:
    """The Milky Way problem (UF23 base, pulsar source, Cylinder(20, 4), D∥ = BrokenPowerLaw(3e28) at 1 TeV)
    with the face weight ½ and 1: mean n in the 1 kpc sphere around the Sun (−8.2, 0, 0.0208) kpc and
    ∫n dV (s kpc³ cm⁻³ per unit source normalisation), to show what the face fix changes."""
    import fpgal
    from fpgal.diffusion import BrokenPowerLaw, FieldAligned
    from fpgal.fields import UF23
    from fpgal.sources import PulsarSpiral
    print("\n| mesh | ε | n̄(Sun, 1 kpc) weight 1 | weight ½ | change | ∫n dV weight 1 | weight ½ | change | CG its (1 / ½) |")
    print("|---|---|---|---|---|---|---|---|---|")
    saved = op.FACE_VERTEX_WEIGHT
    for mesh in meshes:
        grid = fpgal.Grid.from_mesh(mesh).with_energies(np.array([1000.0]))
        c = grid.cell_centers_kpc()
        near = np.linalg.norm(c - np.array([-8.2, 0.0, 0.0208]), axis=-1) < 1.0
        for eps in eps_list:
            res = []
            for w in (1.0, 0.5):
                op.FACE_VERTEX_WEIGHT = w
                cr = solve_steady(grid, FieldAligned(UF23("base"), eps, BrokenPowerLaw(3e28)), PulsarSpiral(),
                                  lambda E: 1.0, boundary=fpgal.Cylinder(20.0, 4.0))
                n = cr.density[0]
                res.append((float(n[near].mean()), float(n.sum() * grid.cell_volume_kpc3), cr.meta["iterations"]))
            (s1, t1, i1), (s2, t2, i2) = res
            print(f"| {mesh} | {eps:g} | {s1:.4e} | {s2:.4e} | {100 * (s2 / s1 - 1):+.2f} % | {t1:.4e} | {t2:.4e} "
                  f"| {100 * (t2 / t1 - 1):+.2f} % | {i1} / {i2} |", flush=True)
    op.FACE_VERTEX_WEIGHT = saved


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--b", default="1,2,2", help="field direction, e.g. 1,2,2")
    p.add_argument("--face-weight", type=float, default=op.FACE_VERTEX_WEIGHT,
                   help="weight of a box-face vertex (0.5; 1 reproduces the former first-order treatment)")
    p.add_argument("--no-cylinder", action="store_true")
    p.add_argument("--galaxy", default="", metavar="MESH[,MESH]",
                   help="also the Milky Way problem on these meshes, weight 1 vs ½ (0.5 kpc: 30 s, 0.25 kpc: 5 min)")
    p.add_argument("--galaxy-eps", default="0.1,0.01,0.001")
    a = p.parse_args(argv)
    b = np.array([float(v) for v in a.b.split(",")])
    if b.shape != (3,) or not np.linalg.norm(b) > 0:
        raise SystemExit(f"--b {a.b!r}: expected three numbers, not all zero")
    op.FACE_VERTEX_WEIGHT = a.face_weight
    table("box", [(8, 6, 4), (16, 12, 8), (32, 24, 16), (60, 45, 30), (64, 48, 32)], b, a.eps)
    if not a.no_cylinder:
        table("cylinder", [(8 * m, 8 * m, 4 * m) for m in (1, 2, 4, 8)], b, a.eps)
    if a.galaxy:
        op.FACE_VERTEX_WEIGHT = 0.5
        galaxy_table(a.galaxy.split(","), [float(v) for v in a.galaxy_eps.split(",")])


if __name__ == "__main__":
    main()
