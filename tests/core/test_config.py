"""Config validation: every kind of bad value names the key, the value and what is allowed."""
import pytest

from fpgal.config import ConfigError, config_from_dict, load_config, schema_markdown, to_toml


def test_default_study_is_valid():
    cfg = load_config()
    assert cfg.field.model == "uf23:base"
    assert cfg.diffusion.epsilon == [0.1, 0.01, 0.001]
    assert cfg.boundary.type == "cylinder" and cfg.boundary.H_kpc == 4.0 and cfg.boundary.R_kpc == 20.0
    assert cfg.sun_kpc == (-8.5, 0.0, 0.0)
    assert "uf23:base" in cfg.text


def test_roundtrip_through_toml(tmp_path):
    cfg = load_config()
    p = tmp_path / "c.toml"
    p.write_text(to_toml(cfg))
    again = load_config(p)
    assert again == cfg


@pytest.mark.parametrize("data, fragments", [
    ({"grid": {"mesch": "x"}}, ["'grid.mesch'", "mesh"]),                       # typo: unknown key
    ({"outptu_dir": "x"}, ["'outptu_dir'", "output_dir"]),                     # unknown top-level key
    ({"diffusion": {"epsilon": [0.1, 2.0]}}, ["'diffusion.epsilon'", "2.0", "<= 1"]),  # out of range
    ({"diffusion": {"epsilon": [0.0]}}, ["'diffusion.epsilon'", "> 0"]),        # exclusive bound
    ({"diffusion": {"epsilon": []}}, ["'diffusion.epsilon'", "non-empty"]),
    ({"diffusion": {"D0_cm2_s": -1e28}}, ["'diffusion.D0_cm2_s'", "-1e+28", "> 0"]),
    ({"diffusion": {"D0_cm2_s": "big"}}, ["'diffusion.D0_cm2_s'", "'big'", "a number"]),  # wrong type
    ({"sde": {"n_particles": 1.5}}, ["'sde.n_particles'", "1.5", "an integer"]),
    ({"sde": {"enabled": "yes"}}, ["'sde.enabled'", "true or false"]),
    ({"boundary": {"type": "sphere"}}, ["'boundary.type'", "'sphere'", "'cylinder'", "'box'"]),  # choices
    ({"skymap": {"nside": 48}}, ["'skymap.nside'", "48", "power of two"]),
    ({"fit": {"E_min_GeV": 100.0, "E_max_GeV": 10.0}}, ["fit.E_min_GeV", "fit.E_max_GeV"]),
    ({"fit": {"free": ["alpha3"]}}, ["fit.free", "alpha3"]),
    ({"grid": 3}, ["[grid]", "table"]),
    ({"skymap": {"E_gamma_GeV": [float("nan")]}}, ["'skymap.E_gamma_GeV'", "finite"]),
])
def test_bad_values_are_named(data, fragments):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} missing from: {msg}"


def test_bad_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[grid\nmesh = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_overrides_are_validated():
    cfg = load_config(None, {"grid.mesh": "milkyway-1kpc", "diffusion.epsilon": [0.5]})
    assert cfg.grid.mesh == "milkyway-1kpc" and cfg.diffusion.epsilon == [0.5]
    with pytest.raises(ConfigError, match="diffusion.epsilon"):
        load_config(None, {"diffusion.epsilon": [5.0]})


def test_schema_doc_lists_every_key():
    md = schema_markdown()
    for key in ("`mesh`", "`epsilon`", "`D0_cm2_s`", "`nside`", "`n_particles`", "## [fit]"):
        assert key in md


def test_config_reference_doc_is_current():
    """docs/config.md is generated from the schema; regenerate with `python -m fpgal.app.config --markdown`."""
    from pathlib import Path
    doc = Path(__file__).resolve().parents[2] / "docs" / "config.md"
    assert doc.read_text().strip() == schema_markdown().strip(), \
        "docs/config.md is stale: run `.venv/bin/python -m fpgal.app.config --markdown > docs/config.md`"
