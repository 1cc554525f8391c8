"""Grid vs Itô SDE in the Galaxy (issue 13 items 2–3): the SDE's step bias and the grid at ε = 0.1, 0.01, 1e-3.

Set-up: the default study (UF23 base, pulsar sources with spiral arms, D∥ of the [diffusion] defaults,
escape cylinder R = 20 kpc, |z| = 4 kpc) on the ``milkyway-0.25kpc`` mesh. For each ε:

* grid: ``fpgal.pipeline.solve_one`` (cached in ``--out``);
* SDE (Itô, lookup table of b, d∥, d⊥ and ∇·S at half the cell, :func:`fpgal.sde.steady.lookup_table`): the default step ℓ of :func:`fpgal.sde.stepsize.default_step`
  and the Richardson pair ℓ, √2 ℓ (dτ, 2dτ; independent seeds), ``--replicas`` independent replicas of
  each (errors = replica scatter / √K, Student t); extrapolated n₀ = 2 n(dτ) − n(2dτ) per replica;
* products of both, computed identically: mean residence time at 1 TeV (Σ n V / Q_tot), the density in
  the 0.5 kpc sphere around the Sun at 1 TeV, z-summed columns averaged over annuli, and 1 TeV γ-ray
  intensities (``fpgal.emission.skymap``, the sky stage of the pipeline, on the pixel centres of the
  windows at nside 64) in the LHAASO inner/outer, Tibet ASγ and ARGO-YBJ windows.

Each ε's numbers go to ``--out``/sde_vs_grid_eps_<ε>.json; the Markdown tables (docs/validation.md §2
and §3) are printed for all results in ``--out``. Run (CPU times in the tables):

    nice -n 10 .venv/bin/python benchmarks/sde_vs_grid.py --out /tmp/sde_vs_grid --n-particles 1200
    .venv/bin/python benchmarks/sde_vs_grid.py --out /tmp/sde_vs_grid --eps      # tables only
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from fpgal import builders, units
from fpgal.config import Config
from fpgal.result import CRDensity
from fpgal.sde import steady_state
from fpgal.sde.richardson import richardson, sun_density
from fpgal.sde.steady import coarse_seed, lookup_table, source_weights
from fpgal.sde.stepsize import default_step

E_REF_GEV = 1000.0
R_EDGES_KPC = (0.0, 3.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
WINDOWS = ("lhaaso_inner", "lhaaso_outer", "tibet_region1", "tibet_region2", "argo_region2")
T_95 = {2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 7: 2.36, 9: 2.26}


def study_config(mesh: str) -> Config:
    cfg = Config()
    return dataclasses.replace(cfg, grid=dataclasses.replace(cfg.grid, mesh=mesh))


class Products:
    """The compared numbers of one CR density (all computed the same way for grid and SDE)."""

    def __init__(self, cfg: Config, grid):
        from fpgal.emission.products import WINDOWS as SKY, pixel_lb
        import healpy as hp
        self.cfg, self.grid = cfg, grid
        self.boundary = builders.build_boundary(cfg).bind(grid) if hasattr(builders.build_boundary(cfg), "bind") \
            else builders.build_boundary(cfg)
        q = source_weights(grid, builders.build_source(cfg), self.boundary)
        self.q_rel_cm3 = float(q.sum()) * grid.cell_volume_cm3
        self.spectrum = builders.build_spectrum(cfg)
        self.iE = int(np.argmin(np.abs(np.log(grid.E_GeV / E_REF_GEV))))
        c = grid.cell_centers_kpc()
        self.R = np.hypot(c[..., 0, 0], c[..., 0, 1])
        nside = 64
        l, b = pixel_lb(nside)
        self.win = {w: SKY[w].contains(l, b) for w in WINDOWS}
        union = np.any(list(self.win.values()), axis=0)
        self.pix = np.flatnonzero(union)
        self.win = {w: m[self.pix] for w, m in self.win.items()}
        self.dirs = np.stack(hp.pix2vec(nside, self.pix), axis=1)
        self.gas = builders.build_gas(cfg)

    def __call__(self, cr: CRDensity) -> dict:
        from fpgal import emission
        g = self.grid
        E = g.E_GeV[self.iE]
        n = cr.density[self.iE]
        out = {"residence_Myr": float(n.sum() * g.cell_volume_cm3 / (self.spectrum(E) * self.q_rel_cm3)) / units.Myr_s,
               "sun": sun_density(cr, E)[0], "sun_1kpc": sun_density(cr, E, 1.0)[0]}
        col = n.sum(axis=2) * g.spacing_kpc[2]
        for a, b in zip(R_EDGES_KPC[:-1], R_EDGES_KPC[1:]):
            m = (self.R >= a) & (self.R < b)
            out[f"col_{a:g}-{b:g}"] = float(col[m].mean())
        sky = emission.skymap(cr, self.gas, [1000.0], 64, self.cfg.sun_kpc, directions=self.dirs,
                              cross_section=self.cfg.skymap.cross_section)[0]
        for w, m in self.win.items():
            out[f"I_{w}"] = float(sky[m].mean())
        return out


def grid_result(cfg: Config, eps: float, out: Path) -> tuple[CRDensity, float]:
    from fpgal.pipeline import solve_one
    path = out / f"grid_eps_{eps:g}.h5"
    t0 = time.perf_counter()
    if not path.is_file():
        solve_one(cfg, eps, path)
    return CRDensity.load(path), time.perf_counter() - t0


def sde_replicas(cfg: Config, eps: float, grid, n_particles: int, replicas: int, seed: int, table_kpc: float,
                 max_steps: int = 10_000_000):
    """(fine, coarse) CRDensity lists of the replicas and the step choice."""
    tensor = builders.build_tensor(cfg, eps)
    t0 = time.perf_counter()
    tab = lookup_table(tensor, "ito", grid, table_kpc)      # frame + ∇·S: the anisotropy exact between nodes
    boundary = builders.build_boundary(cfg)
    boundary = boundary.bind(grid) if hasattr(boundary, "bind") else boundary
    choice = default_step(tab.spatial, grid, boundary, table_kpc)
    t_tab = time.perf_counter() - t0
    fine, coarse = [], []
    common = dict(boundary=boundary, richardson=False, comm=None, E_ref_GeV=E_REF_GEV, max_steps=max_steps)
    for k in range(replicas):
        s = (seed, k)
        fine.append(steady_state(grid, tab, builders.build_source(cfg), builders.build_spectrum(cfg),
                                 n_particles // replicas, s, step_kpc=choice.step_kpc, **common))
        coarse.append(steady_state(grid, tab, builders.build_source(cfg), builders.build_spectrum(cfg),
                                   n_particles // replicas, coarse_seed(s), step_kpc=math.sqrt(2) * choice.step_kpc,
                                   **common))
    return fine, coarse, choice, t_tab


def mean_err(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def fmt(v: float, e: float | None = None, digits: int = 3) -> str:
    if e is None or not math.isfinite(e):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g} ± {e:.1g}"


def run_eps(cfg, eps, args, out, products) -> dict:
    grid_cr, t_grid = grid_result(cfg, eps, out)
    grid = grid_cr.grid
    t0, c0 = time.perf_counter(), time.process_time()
    fine, coarse, choice, t_tab = sde_replicas(cfg, eps, grid, args.n_particles, args.replicas, args.seed,
                                               args.table_kpc, args.max_steps)
    t_sde, cpu_sde = time.perf_counter() - t0, time.process_time() - c0
    pf = [products(c) for c in fine]
    pc = [products(c) for c in coarse]
    p0 = [products(richardson(f, c, extrapolate=True)) for f, c in zip(fine, coarse)]
    pg = products(grid_cr)
    rows = {}
    for key in pg:
        rows[key] = dict(grid=pg[key], fine=mean_err([p[key] for p in pf]), coarse=mean_err([p[key] for p in pc]),
                         extrap=mean_err([p[key] for p in p0]))
    steps = sum(int(c.meta["particle_steps"]) for c in fine + coarse)
    return dict(eps=eps, rows=rows, choice=dataclasses.asdict(choice), t_grid=t_grid, t_sde=t_sde, cpu_sde=cpu_sde,
                t_tab=t_tab, steps=steps,
                not_absorbed=max(float(c.meta["fraction_not_absorbed"]) for c in fine + coarse),
                n=args.n_particles, K=args.replicas)


def print_tables(results: list[dict]) -> None:
    print("\n### Step choice and cost\n")
    print("| ε | L (5 % quantile) [kpc] | default step ℓ [kpc] (limited by) | coarse √2 ℓ | particles/level | "
          "particle-steps (both levels) | SDE CPU [s] | SDE wall [s] (of it table) | grid wall [s] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["choice"]
        print(f"| {r['eps']:g} | {c['gradient_length_kpc']:.3f} | {c['step_kpc']:.4f} ({c['limited_by']}) | "
              f"{math.sqrt(2) * c['step_kpc']:.4f} | {r['n']} ({r['K']} replicas) | {r['steps']:.3g} | "
              f"{r['cpu_sde']:.0f} | {r['t_sde']:.0f} ({r['t_tab']:.0f}) | {r['t_grid']:.0f} |")
    names = {"residence_Myr": "mean residence at 1 TeV [Myr]", "sun": "Sun, 0.5 kpc sphere, 1 TeV [GeV⁻¹ cm⁻³]",
             "sun_1kpc": "Sun, 1 kpc sphere, 1 TeV [GeV⁻¹ cm⁻³]"}
    for r in results:
        K = r["K"]
        print(f"\n### ε = {r['eps']:g}  (errors: 1σ from {K} replicas; grid/SDE − 1 with its 95 % interval "
              f"(Student t, {K - 1} dof))\n")
        print("| quantity | SDE ℓ | SDE √2 ℓ | SDE₀ extrapolated | step bias of ℓ | grid 0.25 kpc | grid/SDE₀ − 1 | "
              "grid/SDE ℓ − 1 |")
        print("|---|---|---|---|---|---|---|---|")
        for key, v in r["rows"].items():
            (f, fe), (c, ce), (x, xe), g = v["fine"], v["coarse"], v["extrap"], v["grid"]
            bias = (c - f) / x if x else math.nan
            bias_e = math.hypot(fe, ce) / abs(x) if x else math.nan
            t = T_95.get(K - 1, 2.0)
            d = g / x - 1 if x else math.nan
            de = t * abs(g) * xe / x ** 2 if x else math.nan
            d1 = g / f - 1 if f else math.nan
            de1 = t * abs(g) * fe / f ** 2 if f else math.nan
            label = names.get(key, key.replace("col_", "column R = ").replace("I_", "I(1 TeV) ") + (" kpc" if key.startswith("col_") else ""))
            print(f"| {label} | {fmt(f, fe)} | {fmt(c, ce)} | {fmt(x, xe)} | {100 * bias:+.1f} ± {100 * bias_e:.1f} % | "
                  f"{g:.3g} | {100 * d:+.1f} ± {100 * de:.1f} % | {100 * d1:+.1f} ± {100 * de1:.1f} % |")
        print(f"\n(particles not absorbed at max_steps: {100 * r['not_absorbed']:.2g} %)")


def finding_iii(results: list[dict]) -> None:
    """Finding (iii) from the SDE and from the grid, the same way: I_w(0.01)/I_w(0.001) with each ε's map
    normalised to the local density (the fit's role), here the 1 kpc sphere around the Sun (the 0.5 kpc
    one is too noisy for the SDE); errors: the replica errors of the four SDE numbers in quadrature."""
    by_eps = {r["eps"]: r["rows"] for r in results}
    if 0.01 not in by_eps or 0.001 not in by_eps:
        return
    a, b = by_eps[0.01], by_eps[0.001]
    print("\n### Finding (iii): I(0.01)/I(0.001), each normalised to n⊙ (1 kpc sphere), 1 TeV\n")
    print("| window | SDE ℓ | grid 0.25 kpc | grid/SDE − 1 |")
    print("|---|---|---|---|")
    for w in WINDOWS:
        key = f"I_{w}"
        vals = [(a[key], a["sun_1kpc"]), (b[key], b["sun_1kpc"])]
        (ia, ia_e), (na, na_e) = (v["fine"] for v in vals[0])
        (ib, ib_e), (nb, nb_e) = (v["fine"] for v in vals[1])
        sde = (ia / na) / (ib / nb)
        rel = math.sqrt((ia_e / ia) ** 2 + (na_e / na) ** 2 + (ib_e / ib) ** 2 + (nb_e / nb) ** 2)
        grid = (a[key]["grid"] / a["sun_1kpc"]["grid"]) / (b[key]["grid"] / b["sun_1kpc"]["grid"])
        print(f"| {w} | {sde:.3f} ± {sde * rel:.3f} | {grid:.3f} | {100 * (grid / sde - 1):+.1f} ± {100 * rel:.1f} % |")


def finer_grid_tables(results: list[dict], label: str, folder: Path, cache: Path) -> None:
    """The products of another grid solution of the same study (e.g. the 0.125 kpc solves of
    ``fpgal converge``: ``folder``/cr_eps_<ε>.h5) next to the SDE's fine run and the 0.25 kpc grid."""
    for r in results:
        eps = r["eps"]
        cached = cache / f"products_{label}_eps_{eps:g}.json"
        if cached.is_file():
            pg = json.loads(cached.read_text())
        else:
            cr = CRDensity.load(folder / f"cr_eps_{eps:g}.h5")
            cfg = study_config("milkyway-0.25kpc")
            pg = Products(cfg, cr.grid)(cr)
            cached.write_text(json.dumps(pg))
        K = r["K"]
        t = T_95.get(K - 1, 2.0)
        print(f"\n### ε = {eps:g}: grid {label} and 0.25 kpc against the SDE ℓ (95 % intervals, SDE errors only)\n")
        print(f"| quantity | SDE ℓ | grid 0.25 kpc | grid {label} | grid 0.25/SDE − 1 | grid {label}/SDE − 1 |")
        print("|---|---|---|---|---|---|")
        for key, v in r["rows"].items():
            (f, fe), g = v["fine"], v["grid"]
            h = pg[key]
            e = t * fe / f if f else math.nan
            print(f"| {key} | {fmt(f, fe)} | {g:.3g} | {h:.3g} | {100 * (g / f - 1):+.1f} ± {100 * e * g / f:.1f} % | "
                  f"{100 * (h / f - 1):+.1f} ± {100 * e * h / f:.1f} % |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="sde_vs_grid-output", help="folder for the cached grid solutions")
    ap.add_argument("--mesh", default="milkyway-0.25kpc")
    ap.add_argument("--eps", type=float, nargs="*", default=[0.1, 0.01, 0.001],
                    help="anisotropies to run (none: only print the tables of the results in --out)")
    ap.add_argument("--n-particles", type=int, default=4000, help="particles per ε and step level (all replicas)")
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--table-kpc", type=float, default=0.125, help="lookup-table spacing (half the cell)")
    ap.add_argument("--finer-grid", metavar="LABEL=DIR", help="compare also the grid solutions DIR/cr_eps_<ε>.h5 "
                    "(e.g. the 0.125 kpc mesh of `fpgal converge`: DIR = OUT/h_0.125kpc/cr)")
    ap.add_argument("--max-steps", type=int, default=10_000_000,
                    help="steps after which a particle still inside is given up (counted as not absorbed)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = study_config(args.mesh)
    products = Products(cfg, builders.build_grid(cfg)) if args.eps else None
    for eps in args.eps:
        t0 = time.perf_counter()
        res = run_eps(cfg, eps, args, out, products)
        path = out / f"sde_vs_grid_eps_{eps:g}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(path)
        print(f"ε = {eps:g} done in {time.perf_counter() - t0:.0f} s", flush=True)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("sde_vs_grid_eps_*.json"),
                                                         key=lambda p: -float(p.stem.rsplit("_", 1)[1]))]
    print_tables(results)
    finding_iii(results)
    if args.finer_grid:
        label, folder = args.finer_grid.split("=", 1)
        finer_grid_tables(results, label, Path(folder), out)


if __name__ == "__main__":
    main()
