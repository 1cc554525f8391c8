"""`fpgal converge` end to end on a tiny study and the mesh-error lines of a run's summary.md: the
numbers in the tables are re-derived from the per-mesh outputs (the solved CR densities, the ratio
stage's window means), not taken on trust."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from fpgal.studies.convergence import cells_for_spacing
from fpgal.cli import main
from fpgal.config import config_from_dict
from fpgal.grid import Grid
from fpgal.pipeline import load_cr, run_study
from _studies import milky_way_mesh

pytest.importorskip("petsc4py")


def tiny_study(tmp_path: Path, n_xy: int, n_z: int, eps: list[float]) -> dict:
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(milky_way_mesh(n_xy, n_z, 6))              # 10 GeV … 1 PeV, one energy per decade
    return {"output_dir": str(tmp_path / "out"), "grid": {"mesh": str(mesh)}, "diffusion": {"epsilon": eps},
            "fit": {"free": ["Q0"], "experiments": ["AMS-02-2021"]},
            "skymap": {"nside": 4, "spectrum_n_E": 1, "spectrum_E_min_GeV": 1000.0, "spectrum_E_max_GeV": 1000.0}}


def write_study(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.toml"
    lines = [f'output_dir = "{data["output_dir"]}"']
    for section in ("grid", "diffusion", "fit", "skymap"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in data[section].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cells_for_spacing_on_the_milky_way_box():
    grid = Grid.from_mesh("milkyway-0.25kpc")
    assert cells_for_spacing(grid, 1.0) == Grid.from_mesh("milkyway-1kpc").shape == (40, 40, 8)
    assert cells_for_spacing(grid, 0.125) == (320, 320, 64)          # 6.55e6 cells
    with pytest.raises(ValueError, match=r"spacing 0.3 kpc.*whole number"):
        cells_for_spacing(grid, 0.3)


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    """`fpgal converge --meshes 4,2,1` of a tiny study on one rank: (study file, config, output, printed text)."""
    tmp_path = tmp_path_factory.mktemp("converge")
    data = tiny_study(tmp_path, 16, 4, [0.01, 0.001])
    study, cfg = write_study(tmp_path, data), config_from_dict(data)
    out = tmp_path / "conv"
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["-q", "converge", str(study), "--meshes", "4,2,1", "--out", str(out)]) == 0
    return study, cfg, out, buffer.getvalue()


@pytest.mark.slow
def test_converge_end_to_end(one_rank):
    study, cfg, out, printed = one_rank
    assert "mesh 1 kpc (40×40×8 = 12800 cells)" in printed and "| I(0.01)/I(0.001) LHAASO inner [1] |" in printed
    result = json.loads((out / "convergence.json").read_text())
    assert (out / "convergence.md").read_text().count("\n| ") >= 10
    assert result["spacings_kpc"] == [4.0, 2.0, 1.0] and [m["n_cells"] for m in result["meshes"]] == [200, 1600, 12800]
    products = result["products"]
    # local densities: the table's values are the solved CR densities at the Sun on each mesh
    row = products["n_sun_1000GeV_eps_0.001"]
    for h, value in zip((4, 2, 1), row["values"]):
        cr = load_cr(out / f"h_{h}kpc" / "cr" / "cr_eps_0.001.h5")
        assert cr.grid.shape == cells_for_spacing(cr.grid, h)
        E = list(cr.E_GeV).index(1000.0)
        assert value == pytest.approx(cr.local_spectrum(cfg.sun_kpc, cfg.fit.radius_kpc)[E], rel=1e-9)
    # the finding's ratio is the ratio stage's number, its order and error follow from the three values
    for key in ("ratio_0.01/0.001_all_sky", "ratio_0.01/0.001_inner", "ratio_0.01/0.001_outer"):
        r = products[key]
        for h, value in zip((4, 2, 1), r["values"]):
            info = json.loads((out / f"h_{h}kpc" / "stages.json").read_text())["ratios"]["info"]["0.01/0.001"]
            assert value == pytest.approx(info[key.rsplit("_", 1)[-1] if "all_sky" not in key else "all_sky"])
        d = np.diff(r["values"])
        assert r["orders"][0] == pytest.approx(math.log2(abs(d[0]) / abs(d[1])))
        p = r["order_used"]
        assert r["error"] == pytest.approx(abs(d[1]) / (2 ** p - 1))
    assert {"n_sun_10GeV_eps_0.01", "n_sun_1e+06GeV_eps_0.01", "I_inner_1000GeV_eps_0.01", "chi2dof_eps_0.001"} <= set(products)
    # resumable: a second call solves nothing again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")}
    assert main(["-q", "converge", str(study), "--meshes", "4,2,1", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")} == stamps


def test_summary_states_each_findings_mesh_error(tmp_path):
    data = tiny_study(tmp_path, 16, 8, [0.1, 0.01, 0.001])
    cfg = config_from_dict(data, text=json.dumps(data))
    out = Path(cfg.output_dir)
    text = run_study(cfg, only=["solve", "fit", "skymap", "ratios", "mesh_error", "summary"]).read_text()
    findings = [line for line in text.splitlines() if line.startswith("- (")]
    assert len(findings) == 3 and all("Mesh error (2.5 kpc against a 5 kpc companion solve" in f for f in findings)
    fine = json.loads((out / "stages.json").read_text())["ratios"]["info"]
    coarse = json.loads((out / "mesh_error" / "stages.json").read_text())["ratios"]["info"]
    assert json.loads((out / "mesh_error" / "mesh_error.json").read_text())["coarse_cells"] == [8, 8, 4]
    for fid, key, win in (("(ii)", "0.1/0.01", "inner"), ("(iii)", "0.01/0.001", "outer")):
        err = abs(fine[key][win] - coarse[key][win])            # p = 1 assumed: err = |Δ|/(2 − 1)
        line = next(f for f in findings if f.startswith(f"- {fid}"))
        assert f"= {fine[key][win]:.4g} ± {err:.2g}" in line
        assert "→ verdict within this error: **" in line
    # (i): a factorized solve's spectral shape does not depend on the mesh: χ² unchanged, error 0
    assert "χ²/dof, ε = 0.1 = " in findings[0] and "± 0;" in findings[0]


@pytest.mark.mpi
@pytest.mark.slow
def test_converge_on_two_ranks_equals_one_rank(tmp_path, one_rank):
    """`fpgal converge` under mpiexec -n 2 gives the one-rank values on the same meshes (to the solver's tolerance)."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    try:
        from _mpirun import run_mpi
    finally:
        sys.path.pop(0)
    study, _, out, _ = one_rank
    proc = run_mpi(["-m", "fpgal", "-q", "converge", str(study), "--meshes", "4,2", "--out", str(tmp_path / "two")],
                   n=2, timeout_s=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (json.loads((d / "convergence.json").read_text())["products"] for d in (out, tmp_path / "two"))
    assert set(one) == set(two) and len(one) >= 15
    for key in one:
        assert two[key]["values"] == pytest.approx(one[key]["values"][:2], rel=1e-6, abs=1e-12), key


def test_bad_meshes_are_a_usage_error_before_any_solve(tmp_path, capsys):
    study = write_study(tmp_path, tiny_study(tmp_path, 16, 4, [0.01, 0.001]))
    for meshes, why in (("4,2,1.5", r"constant refinement ratio.*\[2\.0, 1\.333333\]"),
                        ("3,1.5", r"spacing 3 kpc: the box sides \[40\.0, 40\.0, 8\.0\] kpc")):
        assert main(["converge", str(study), "--meshes", meshes, "--out", str(tmp_path / "c")]) == 2
        assert __import__("re").search(f"--meshes {meshes}: .*{why}", capsys.readouterr().err)
    assert not (tmp_path / "c").exists()
