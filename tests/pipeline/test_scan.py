"""`fpgal scan` on a tiny mesh: a 2 × 2 scan runs end to end, resumes without recomputing, reproduces the
single `fpgal run`s number for number, and its χ² against LHAASO-like data is minimal where the data came from."""
import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from fpgal.cli import main
from fpgal.config import ConfigError, config_from_dict
from fpgal.data import packaged_data_dir, write_table
from fpgal.pipeline import run_study, window_means
from fpgal.scan import lhaaso_chi2, model_config, preferred_epsilon, run_scan
from fpgal.scan.rows import window_spectra
from _studies import milky_way_mesh

MODELS = ["uf23:base", "jf12-solenoidal"]
EPS = [0.01, 1.0]
INTERFACE = ["model", "epsilon", "chi2_lhaaso_inner", "chi2_lhaaso_outer", "chi2_local", "I_inner_1TeV",
             "I_outer_1TeV"]


def scan_data(tmp: Path, **scan) -> dict:
    (tmp / "tiny.toml").write_text(milky_way_mesh(16, 6, 11))
    return {"output_dir": str(tmp / "scan"), "grid": {"mesh": str(tmp / "tiny.toml")},
            "fit": {"free": ["Q0", "alpha1"], "experiments": ["AMS-02-2021", "DAMPE-2025"]},
            "skymap": {"nside": 8, "spectrum_n_E": 5, "spectrum_E_min_GeV": 1e3, "spectrum_E_max_GeV": 1e6},
            "scan": {"models": MODELS, "epsilon": EPS, **scan}}


def read_csv(path: Path) -> dict:
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {(r["model"], float(r["epsilon"])): r for r in rows}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scan")
    data = scan_data(tmp)
    cfg = config_from_dict(data, text=json.dumps(data))
    first = run_scan(cfg)
    return tmp, cfg, first


@pytest.mark.slow
def test_scan_runs_resumes_and_reproduces_fpgal_run(scanned, tmp_path):
    tmp, cfg, first = scanned
    out = Path(cfg.output_dir)
    rows = read_csv(out / "scan.csv")
    assert list(next(iter(rows.values())))[:7] == INTERFACE and len(rows) == 4
    assert {r["nuclei_factor_mode"] for r in rows.values()} == {"fixed"} and {r["nuclei_factor"] for r in rows.values()} == {"1.0"}
    for f in ("scan.md", "chi2_epsilon.png", "window_ratio_epsilon.png", "spectra_inner.png", "spectra_outer.png",
              *(f"ratio_maps/{p.name}" for p in (out / "ratio_maps").glob("ratio_jf12-solenoidal_eps_*_over_uf23_base_eps_*.png"))):
        assert (out / f).is_file(), f
    assert len(list((out / "ratio_maps").glob("*.png"))) == 1
    assert sum(n.startswith("solve/") for n in first.computed) == 4
    # ε = 1 is isotropic: D = D∥ 1 whatever the field, so both models give the same sky
    iso = [rows[(m, 1.0)] for m in MODELS]
    assert float(iso[0]["I_inner_1TeV"]) == pytest.approx(float(iso[1]["I_inner_1TeV"]), rel=1e-8)
    assert float(rows[("uf23:base", 0.01)]["I_inner_1TeV"]) != pytest.approx(
        float(rows[("jf12-solenoidal", 0.01)]["I_inner_1TeV"]), rel=1e-3)

    # resume: through the CLI, nothing is recomputed and no product is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (out / "models").rglob("*") if p.is_file()}
    (tmp / "scan.toml").write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in [("output_dir", cfg.output_dir)])
                                   + "\n" + "".join(f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in d.items())
                                                    for s, d in scan_data(tmp).items() if isinstance(d, dict)))
    assert main(["scan", str(tmp / "scan.toml")]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert read_csv(out / "scan.csv") == rows

    # the same numbers as `fpgal run` of each model with the same ε
    for m in MODELS:
        run_cfg = config_from_dict({**scan_data(tmp), "output_dir": str(tmp_path / m.replace(":", "_")),
                                    "field": {"model": m}, "diffusion": {"epsilon": EPS}})
        run_study(run_cfg, only=["solve", "fit", "skymap"])
        run_out, scan_m = Path(run_cfg.output_dir), Path(model_config(cfg, m, EPS).output_dir)
        for e in EPS:
            r, w = rows[(m, e)], window_means(run_out / f"skymaps/eps_{e:g}_maps.h5", 1000.0)
            assert float(r["I_inner_1TeV"]) == pytest.approx(1e6 * w["inner"], rel=1e-10)
            assert float(r["I_outer_1TeV"]) == pytest.approx(1e6 * w["outer"], rel=1e-10)
            fit = json.loads((run_out / f"fit/fit_eps_{e:g}.json").read_text())
            assert float(r["chi2_local"]) == pytest.approx(fit["chi2"], rel=1e-10)
            with h5py.File(run_out / f"cr/cr_eps_{e:g}.h5") as a, h5py.File(scan_m / f"cr/cr_eps_{e:g}.h5") as b:
                np.testing.assert_allclose(b["spatial"][...], a["spatial"][...], rtol=1e-10, atol=0)


def synthetic_lhaaso(tmp: Path, E: np.ndarray, spectra: dict, factor: float) -> Path:
    """A data folder: the shipped tables, with the LHAASO-KM2A intensities replaced by ``factor`` × the given
    window spectra at the LHAASO energies (LHAASO's own relative errors kept)."""
    from fpgal.emission.skydata import LHAASO_FILES
    from fpgal.scan.stats import window_prediction
    from fpgal.data import read_table
    folder = tmp / "synthetic_data"
    shutil.copytree(packaged_data_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for w, rel in LHAASO_FILES.items():
        t = read_table(folder / rel)
        cols = list(t.columns)
        d = t.data.copy()
        E_data = t.column("E") * 1e3                                    # TeV → GeV
        I_new = factor * window_prediction(E, spectra[w], E_data) * 1e3  # GeV⁻¹ → TeV⁻¹
        scale = I_new / t.column("I")
        for c in ("I", "stat_lo", "stat_hi", "sys"):
            d[:, cols.index(c)] *= scale
        write_table(folder / rel, t.meta, d)
    return folder


def test_chi2_is_minimal_where_the_synthetic_data_came_from(scanned):
    """Data made from (jf12-solenoidal, ε = 0.01) × 1.6: with a free nuclei factor χ² = 0 there, with f̂ = 1.6;
    every other (model, ε) has Δχ² > 1. Solves are reused (the data folder changes only fits and rows)."""
    tmp, cfg, _ = scanned
    truth = ("jf12-solenoidal", 0.01)
    E, spectra = window_spectra(Path(model_config(cfg, truth[0], EPS).output_dir) / "skymaps/eps_0.01_maps.h5")
    folder = synthetic_lhaaso(tmp / "synthetic", E, spectra, 1.6)
    out = shutil.copytree(cfg.output_dir, tmp / "synthetic" / "scan")      # the shared scan stays as it is
    data = scan_data(tmp, nuclei_factor_free=True)
    data |= {"data_dir": str(folder), "output_dir": str(out)}
    res = run_scan(config_from_dict(data))
    assert not any(n.startswith(("solve/", "numerical_diffusion/")) for n in res.computed)
    rows = read_csv(Path(out) / "scan.csv")
    chi2 = {k: float(r["chi2_lhaaso_inner"]) + float(r["chi2_lhaaso_outer"]) for k, r in rows.items()}
    assert min(chi2, key=chi2.get) == truth and chi2[truth] < 1e-12
    assert sorted(chi2.values())[1] > 1.0                       # the next best point is > 1σ away
    assert float(rows[truth]["nuclei_factor"]) == pytest.approx(1.6, rel=1e-10)
    assert rows[truth]["nuclei_factor_mode"] == "free"


def test_free_nuclei_factor_is_the_least_squares_scale():
    """f̂ minimises χ²(f): χ² at f̂ ± δ is larger, and f̂ matches a brute-force scan of f."""
    from fpgal.emission.skydata import GammaPoints
    from fpgal.scan.stats import chi2_windows, window_prediction
    E = np.geomspace(1e3, 1e6, 6)
    I_model = {"inner": 1e-9 * (E / 1e3) ** -2.7, "outer": 4e-10 * (E / 1e3) ** -2.8}
    rng = np.random.default_rng(3)
    data = {}
    for w, I in I_model.items():
        Ed = np.geomspace(2e4, 5e5, 5)
        Im = np.interp(np.log(Ed), np.log(E), np.log(I))
        d = 1.4 * np.exp(Im) * (1 + 0.1 * rng.standard_normal(5))
        data[w] = GammaPoints(w, Ed, d, 0.08 * d, 0.12 * d)
    res = lhaaso_chi2(E, I_model, data, 1.0, free=True)
    pred = {w: window_prediction(E, I_model[w], data[w].E_GeV) for w in data}
    f = np.linspace(1.0, 2.0, 4001)
    brute = [sum(chi2_windows(pred, data, x).values()) for x in f]
    assert res["nuclei_factor"] == pytest.approx(f[int(np.argmin(brute))], abs=3e-4)
    fixed = lhaaso_chi2(E, I_model, data, res["nuclei_factor"], free=False)
    assert fixed["chi2_lhaaso_inner"] == pytest.approx(res["chi2_lhaaso_inner"], rel=1e-12)
    assert 1.2 < res["nuclei_factor"] < 1.6


def test_preferred_epsilon_of_a_parabola_in_log_epsilon():
    """χ² = 9 (log₁₀ ε − x0)² / 1 + 4: minimum at 10^x0, Δχ² = 1 at x0 ± 1/3."""
    eps = np.geomspace(1e-3, 1.0, 10)
    x0 = -1.7
    p = preferred_epsilon(eps, 9.0 * (np.log10(eps) - x0) ** 2 + 4.0)
    assert np.log10(p["best"]) == pytest.approx(x0, abs=1e-9)
    assert np.log10(p["lo"]) == pytest.approx(x0 - 1 / 3, abs=1e-9)
    assert np.log10(p["hi"]) == pytest.approx(x0 + 1 / 3, abs=1e-9)
    assert p["chi2_min"] == pytest.approx(4.0, abs=1e-9) and not (p["lo_at_edge"] or p["hi_at_edge"]) and p["resolved"]
    edge = preferred_epsilon(eps, np.log10(eps) ** 2)          # minimum at ε = 1, the edge of the range
    assert edge["best"] == pytest.approx(1.0) and edge["hi_at_edge"] and not edge["lo_at_edge"]
    assert edge["lo"] == pytest.approx(0.1, rel=1e-9)          # χ² = 1 at log₁₀ ε = −1, a grid point
    # a minimum between two coarse grid points next to a steep wall: flagged, not trusted
    coarse = preferred_epsilon(np.array([1e-3, 1e-2, 1e-1, 1.0]), np.array([400.8, 73.9, 99.2, 92.2]))
    assert not coarse["resolved"]


@pytest.mark.parametrize("scan, words", [
    ({"models": ["uf23:base", "uf23:bse"]}, ["'uf23:bse'", "uf23:nebCor", "jf12-solenoidal"]),
    ({"epsilon": [0.1, 0.0]}, ["scan.epsilon", "> 0"]),
    ({"epsilon": [1.5]}, ["scan.epsilon", "<= 1"]),
    ({"epsilon": [0.1, 0.1]}, ["scan.epsilon", "more than once"]),
])
def test_scan_config_errors_name_the_value(scan, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"scan": scan})
    for w in words:
        assert w in str(err.value)


def test_scan_defaults_are_the_nine_models_and_ten_eps():
    cfg = config_from_dict({})
    assert len(cfg.scan.models) == 9 and cfg.scan.models[-1] == "jf12-solenoidal"
    np.testing.assert_allclose(cfg.scan.epsilon, np.geomspace(1e-3, 1.0, 10), rtol=3e-6)   # 6 digits


def test_a_failed_point_leaves_its_row_empty_and_is_retried(scanned, tmp_path, monkeypatch):
    """A fit that raises at one (model, ε) gives that row the error and no numbers; every other row is the
    same, scan.md lists it, and the next run (fit working again) fills the row with the original numbers."""
    import fpgal.pipeline
    tmp, cfg, _ = scanned
    out = Path(shutil.copytree(cfg.output_dir, tmp_path / "scan"))
    before = read_csv(out / "scan.csv")
    stages = json.loads((out / "stages.json").read_text())
    for name in ("fit/jf12-solenoidal/eps_0.01", "row/jf12-solenoidal/eps_0.01"):
        del stages[name]
    (out / "stages.json").write_text(json.dumps(stages))
    real_fit = fpgal.pipeline.fit_stage

    def broken(*a, **k):
        raise ValueError("no positive local density (test)")
    monkeypatch.setattr(fpgal.pipeline, "fit_stage", broken)
    run_cfg = config_from_dict({**scan_data(tmp), "output_dir": str(out)})      # the same mesh file: same keys
    res = run_scan(run_cfg)
    rows = read_csv(out / "scan.csv")
    bad = rows[("jf12-solenoidal", 0.01)]
    assert bad["error"] == "ValueError: no positive local density (test)" and bad["I_inner_1TeV"] == ""
    assert all(rows[k] == before[k] for k in rows if k != ("jf12-solenoidal", 0.01))
    assert "ValueError: no positive local density" in (out / "scan.md").read_text()
    assert not any(n.startswith("row/jf12-solenoidal/eps_0.01") for n in res.computed)
    monkeypatch.setattr(fpgal.pipeline, "fit_stage", real_fit)
    run_scan(run_cfg)
    again = read_csv(out / "scan.csv")[("jf12-solenoidal", 0.01)]
    assert {c: again[c] for c in INTERFACE + ["error"]} == {c: before[("jf12-solenoidal", 0.01)][c] for c in INTERFACE + ["error"]}
