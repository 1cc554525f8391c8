"""Honest resume: a stage is reused only if everything it read is unchanged (the fit result included);
temporary files of a killed run are swept; a damaged stages.json never stops a run."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from fpgal.config import config_from_dict
from fpgal.emission import products
from fpgal.pipeline import maps_key, run_study, sweep_partial_files
from _studies import milky_way_mesh

TINY_MESH = milky_way_mesh(10, 4, 5)


@pytest.fixture
def warnings_log():
    """WARNING records of the ``fpgal`` loggers, whatever an earlier test did to their handlers."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    handler = Collect(logging.WARNING)
    logger = logging.getLogger("fpgal")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def tiny_config(tmp_path: Path, out: str = "out", **sections):
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(TINY_MESH)
    data = {"output_dir": str(tmp_path / out), "grid": {"mesh": str(mesh)}, "diffusion": {"epsilon": [0.1]},
            "fit": {"free": ["Q0"], "experiments": ["AMS-02-2021"]},
            "skymap": {"nside": 4, "spectrum_n_E": 2, "spectrum_E_min_GeV": 300.0, "spectrum_E_max_GeV": 3e3}}
    for k, v in sections.items():
        data.setdefault(k, {}).update(v)
    return config_from_dict(data, text=json.dumps(data))


def maps(cfg) -> tuple[np.ndarray, str]:
    m, _, attrs = products.load_h5(Path(cfg.output_dir) / "skymaps" / "eps_0.1_maps.h5")
    return m, str(attrs.get("rescaled_by_fit", ""))


def test_fit_after_unfitted_skymaps_redoes_them(tmp_path):
    """`run --stages solve,skymap` then a run with the fit: the maps are remade, rescaled, and equal to
    those of a run that had the fit from the start (they were kept un-rescaled before the fix)."""
    cfg = tiny_config(tmp_path)
    run_study(cfg, only=["solve", "skymap"])
    unfitted, by = maps(cfg)
    assert by == ""
    run_study(cfg, only=["solve", "fit", "skymap"])
    fitted, by = maps(cfg)
    assert by.endswith("fit_eps_0.1.json")
    assert not np.allclose(fitted, unfitted)

    fresh = tiny_config(tmp_path, out="fresh")
    run_study(fresh, only=["solve", "fit", "skymap"])
    reference, _ = maps(fresh)
    np.testing.assert_allclose(fitted, reference, rtol=1e-12)

    # nothing changed: the sky maps are now reused
    stamp = (Path(cfg.output_dir) / "skymaps" / "eps_0.1_maps.h5").stat().st_mtime_ns
    run_study(cfg, only=["solve", "fit", "skymap"])
    assert (Path(cfg.output_dir) / "skymaps" / "eps_0.1_maps.h5").stat().st_mtime_ns == stamp


def test_fit_of_another_config_is_not_applied(tmp_path, warnings_log):
    """A fit left by an earlier config must not rescale maps of a changed one (the fit stage is not current)."""
    cfg = tiny_config(tmp_path)
    run_study(cfg, only=["solve", "fit", "skymap"])
    changed = tiny_config(tmp_path, spectrum={"alpha2": -2.3})
    run_study(changed, only=["solve", "skymap"])
    _, by = maps(changed)
    assert by == ""
    assert any("belong to another configuration" in m for m in warnings_log)


def test_ratio_and_spectra_keys_follow_the_map_keys(tmp_path):
    cfg = tiny_config(tmp_path)
    a = maps_key("ratios", cfg, {0.1: "aaaa", 0.01: "bbbb"})
    assert maps_key("ratios", cfg, {0.01: "bbbb", 0.1: "aaaa"}) == a
    assert maps_key("ratios", cfg, {0.1: "aaaa", 0.01: "cccc"}) != a
    assert maps_key("spectra", cfg, {0.1: "aaaa", 0.01: "bbbb"}) != a


def test_stale_partial_files_are_swept(tmp_path):
    cfg = tiny_config(tmp_path)
    out = Path(cfg.output_dir)
    (out / "cr").mkdir(parents=True)
    stale = [out / "cr" / ".cr_eps_0.1.h5.k3j_x9q2.partial", out / ".stages.json.abcdefgh.partial"]
    kept = [out / "notes.partial", out / ".notes.partial", out / "cr" / ".cr.h5.short.partial",
            out / "cr_eps_0.1.h5"]
    for p in stale + kept:
        p.write_text("x")
    run_study(cfg, only=["summary"])
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert sweep_partial_files(out) == []


@pytest.mark.parametrize("damage", ["{not json", "[1, 2, 3]", '{"solve_eps_0.1": 7}', b"\xff\xfe\x00"])
def test_damaged_manifest_is_ignored(tmp_path, warnings_log, damage):
    cfg = tiny_config(tmp_path)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True)
    manifest = out / "stages.json"
    manifest.write_bytes(damage if isinstance(damage, bytes) else damage.encode())
    run_study(cfg, only=["solve"], force=True)
    assert any("is damaged" in m for m in warnings_log)
    entries = json.loads(manifest.read_text())
    assert "solve_eps_0.1" in entries and (out / "cr" / "cr_eps_0.1.h5").is_file()
    manifest.write_text("{not json")
    run_study(cfg, only=["solve"])                 # without --force as well
    assert "solve_eps_0.1" in json.loads(manifest.read_text())
