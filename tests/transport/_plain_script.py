"""A plain user script — no rank checks anywhere — that must run unchanged under ``mpiexec -n 2``.

Run: python tests/transport/_plain_script.py OUT_DIR REPORT_DIR   (also under mpiexec)
Solves a small factorized problem and one with losses (general layout), saves both, prints the
local spectrum and makes a sky map. Every process writes what it saw to REPORT_DIR/report.<pid>.json
(the test's stand-in for the user reading the printed numbers).
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

import fpgal
from fpgal.diffusion import BrokenPowerLaw, FieldAligned
from fpgal.fields.analytic import LogSpiral
from fpgal.transport.losses import PPLosses

out, reports = Path(sys.argv[1]), Path(sys.argv[2])
grid = fpgal.Grid((-4, 4, 16), (-4, 4, 16), (-2, 2, 8), E_GeV=[10.0, 100.0, 1000.0])
tensor = FieldAligned(LogSpiral(pitch_deg=12.0, r0_kpc=2.0, r_min_kpc=0.5), 0.1, BrokenPowerLaw(3e28))
source = fpgal.sources.GaussianBlob((1.0, -0.5, 0.0), 0.8)
options = {"ksp_rtol": "1e-13"}

cr = fpgal.solve_steady(grid, tensor, source, lambda E: E ** -2.2, petsc_options=options)
saved = [str(cr.save(out / "factorized.h5"))]
local = cr.local_spectrum(center_kpc=(-2.0, 0.5, 0.0), radius_kpc=0.6)
print("local spectrum", local)
lossy = fpgal.solve_steady(grid, tensor, source, lambda E: E ** -2.2, petsc_options=options,
                           losses=PPLosses(lambda x: np.full(len(x), 1.0), nuclear_factor=30.0))
saved.append(str(lossy.save(out / "general.h5")))
maps = fpgal.emission.skymap(cr, lambda x: np.exp(-np.abs(x[:, 2]) / 0.2), [10.0, 100.0], nside=4,
                             sun_kpc=(-3.0, 0.0, 0.0), helium_fraction=0.0)
try:
    cr.save(out / "factorized.h5" / "not_a_directory" / "x.h5")
    save_error = None
except OSError as exc:
    save_error = type(exc).__name__

report = {"saved": saved, "factorized": [cr.is_factorized, lossy.is_factorized], "local": local.tolist(),
          "interpolated": cr.interpolate([[0.3, 0.2, 0.1], [-3.1, 1.0, -0.5]]).tolist(),
          "lossy_local": lossy.local_spectrum(center_kpc=(-2.0, 0.5, 0.0), radius_kpc=0.6).tolist(),
          "skymap": maps.tolist(), "skymap_sha256": hashlib.sha256(np.ascontiguousarray(maps).tobytes()).hexdigest(),
          "density_sha256": hashlib.sha256(np.ascontiguousarray(lossy.density).tobytes()).hexdigest(),
          "n_ranks": cr.meta["n_ranks"], "save_error": save_error}
(reports / f"report.{os.getpid()}.json").write_text(json.dumps(report))
