"""A fresh clone — only committed files, no ../shared beside it, no FPGAL_DATA — runs a small study end to end,
and a non-editable install of it carries the reference tables (issue 14).

These tests clone the repository's committed state (``git clone`` of its HEAD): uncommitted edits are not tested.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from _studies import milky_way_mesh

REPO = Path(__file__).resolve().parents[2]

TINY_MESH = milky_way_mesh(16, 6, 11)

STUDY = """
output_dir = "{out}"
[grid]
mesh = "{mesh}"
[diffusion]
epsilon = [0.1, 0.01]
[fit]
free = ["Q0", "alpha1"]
experiments = ["AMS-02-2021", "DAMPE-2025", "CALET"]
[skymap]
nside = 8
spectrum_n_E = 3
spectrum_E_min_GeV = 300.0
spectrum_E_max_GeV = 3.0e4
[sde]
enabled = false
"""

# the real CLI entry (python -m fpgal), in a process that first reports which fpgal it imported
RUN_CLI = ("import runpy, sys, fpgal; print('fpgal imported from', fpgal.__file__, flush=True); "
           "sys.argv = ['fpgal'] + sys.argv[1:]; runpy.run_module('fpgal', run_name='__main__', alter_sys=True)")


def _env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FPGAL_DATA", "PYTHONPATH")}
    env.update(PYTHONPATH=str(pythonpath), FPGAL_PROGRESS="0")
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args} exited with {r.returncode}\n--- stdout\n{r.stdout[-4000:]}\n--- stderr\n" \
                              f"{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """``git clone`` of the repository into an empty folder: no ``shared/`` beside it."""
    root = tmp_path_factory.mktemp("fresh")
    dest = root / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True, timeout=120)
    assert sorted(p.name for p in root.iterdir()) == ["clone"]
    return dest


@pytest.mark.slow
def test_fresh_clone_runs_the_default_chain(clone, tmp_path):
    """solve → fit → sky maps → ratios → spectra → summary with the clone's code and its packaged tables."""
    assert (clone / "fpgal" / "core" / "data" / "cosmic_rays" / "AMS-02-2021_H.txt").is_file()
    (tmp_path / "tiny.toml").write_text(TINY_MESH)
    out = tmp_path / "out"
    (tmp_path / "study.toml").write_text(STUDY.format(out=out, mesh=tmp_path / "tiny.toml"))
    r = _run([sys.executable, "-c", RUN_CLI, "run", str(tmp_path / "study.toml")], cwd=clone, env=_env(clone))
    assert f"fpgal imported from {clone / 'fpgal' / '__init__.py'}" in r.stdout

    fit = json.loads((out / "fit" / "fit_eps_0.1.json").read_text())
    assert fit["dof"] > 0 and np.isfinite(fit["chi2"]) and fit["chi2"] > 0
    fits = out / "skymaps" / "eps_0.1_maps.fits"
    m = hp.read_map(fits, field=0)
    assert m.size == hp.nside2npix(8) and np.all(np.isfinite(m)) and np.all(m > 0)
    assert (out / "spectra" / "spectrum_lhaaso_inner.png").is_file()        # LHAASO points from the package
    assert "χ²/dof" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_non_editable_install_carries_the_tables(clone, tmp_path):
    """A wheel built from the clone holds every table; installed elsewhere, fpgal reads them from there."""
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp_path / "wheel"), str(clone)], cwd=tmp_path, env=_env(tmp_path))
    wheel, = (tmp_path / "wheel").glob("fpgal-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {str(p.relative_to(clone)) for sub in ("cosmic_rays", "gamma_rays", "neutrinos")
               for p in (clone / "fpgal" / "core" / "data" / sub).glob("*.txt")}
    assert len(shipped) >= 29 and shipped <= names
    assert "fpgal/app/default_study.toml" in names
    assert {f"fpgal/meshes/{p.name}" for p in (clone / "meshes").glob("*.toml")} <= names   # named meshes too

    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site),
          str(wheel)], cwd=tmp_path, env=_env(tmp_path))
    probe = ("import fpgal, fpgal.data as d; from fpgal.analysis import crdata; from fpgal.emission import skydata as e; "
             "print(fpgal.__file__); print(d.data_dir()); print(len(crdata.list_experiments()), "
             "len(crdata.list_experiments(species='He')), e.load_lhaaso_km2a('inner').E_GeV.size); "
             "print(fpgal.Grid.from_mesh('milkyway-0.25kpc').shape)")
    lines = _run([sys.executable, "-c", probe], cwd=tmp_path, env=_env(site)).stdout.split("\n")
    assert lines[0] == str(site / "fpgal" / "__init__.py")
    assert lines[1] == str(site / "fpgal" / "core" / "data")
    assert lines[2] == "14 10 10"
    assert lines[3] == "(160, 160, 32)"          # the default study's named mesh, read from the installed package
