"""Benchmark of the gamma-ray sky-map stage (production matrix, emissivity, line of sight).

Setup: the 0.25 kpc Milky Way mesh (160×160×32 cells, 25 CR energies 10 GeV–10 PeV) with a
synthetic CR proton density (power law E^-2.7 × a Gaussian-disk profile), the Nakanishi & Sofue
gas, AAfrag γ cross sections with f_He = 0.1, 10 γ energies 100 GeV–1 PeV, nside 128 (196 608
pixels), LOS step = half a cell (0.125 kpc). Target: < 60 s on 2 cores.

Run:  .venv/bin/python benchmarks/skymap.py [--nside 128] [--n-energies 10] [--absorption]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fpgal
from fpgal.emission import gas as gas_models
from fpgal.emission import skymap


def synthetic_cr(grid: fpgal.Grid) -> fpgal.CRDensity:
    """n(E, x) = 1e-9 (E/10 GeV)^-2.7 exp(-R²/(2·8²) - z²/(2·1²)) GeV⁻¹ cm⁻³."""
    c = grid.cell_centers_kpc()
    R2 = c[..., 0] ** 2 + c[..., 1] ** 2
    profile = np.exp(-R2 / (2 * 8.0 ** 2) - c[..., 2] ** 2 / (2 * 1.0 ** 2))
    spec = 1e-9 * (grid.E_GeV / 10.0) ** -2.7
    return fpgal.CRDensity(grid, spec[:, None, None, None] * profile[None])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nside", type=int, default=128)
    ap.add_argument("--n-energies", type=int, default=10)
    ap.add_argument("--mesh", default="milkyway-0.25kpc")
    ap.add_argument("--absorption", action="store_true")
    args = ap.parse_args(argv)

    from fpgal.grid import MESH_DIR
    mesh = MESH_DIR / f"{args.mesh}.toml"          # a name with a dot ('0.25kpc') needs the full path
    grid = fpgal.Grid.from_mesh(mesh if mesh.is_file() else args.mesh)
    cr = synthetic_cr(grid)
    E = np.geomspace(100.0, 1.0e6, args.n_energies)
    gas = gas_models.NakanishiSofue()
    timings: dict = {}
    t0 = time.perf_counter()
    maps = skymap(cr, gas, E, args.nside, absorption=args.absorption, timings=timings)
    total = time.perf_counter() - t0
    print(f"# fpgal skymap benchmark: {grid!r}")
    print(f"# nside={args.nside} ({maps.shape[1]} pixels), {E.size} energies, absorption={args.absorption}")
    print(f"{'stage':<28}{'time [s]':>10}")
    for key, label in (("production_matrix_s", "production matrix"), ("emissivity_s", "emissivity (all cells)"),
                       ("los_s", "line of sight")):
        print(f"{label:<28}{timings.get(key, float('nan')):>10.2f}")
    print(f"{'total':<28}{total:>10.2f}")
    print(f"# mean intensity at {E[0]:g} GeV: {maps[0].mean():.4g} GeV^-1 cm^-2 s^-1 sr^-1")


if __name__ == "__main__":
    main()
