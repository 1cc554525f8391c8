"""The nuclei stage of `fpgal run` (helium, knee, neutrinos) on a tiny mesh, and its config checks."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from fpgal.config import ConfigError, config_from_dict
from fpgal.pipeline import check_study, run_study
from _studies import milky_way_mesh


def nuclei_config(tmp_path: Path, **sections):
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(milky_way_mesh(10, 4, 11).replace("E_max_GeV = 1.0e6", "E_max_GeV = 1.0e7"))
    data = {"output_dir": str(tmp_path / "out"), "grid": {"mesh": str(mesh)}, "diffusion": {"epsilon": [0.1]},
            "fit": {"knee": True}, "species": {"helium": True}, "neutrinos": {"enabled": True, "n_E": 3},
            "skymap": {"nside": 4, "spectrum_n_E": 3, "spectrum_E_min_GeV": 300.0, "spectrum_E_max_GeV": 3e4}}
    for k, v in sections.items():
        data.setdefault(k, {}).update(v)
    return config_from_dict(data, text=json.dumps(data))


def test_nuclei_stage_writes_the_summary_lines(tmp_path):
    cfg = nuclei_config(tmp_path)
    text = run_study(cfg, only=["solve", "nuclei", "summary"]).read_text()
    num = r"(\d+\.\d+)"
    m = re.search(rf"^χ²/dof p: {num} \(knee: {num}\); He: {num} \(knee: {num}\)$", text, re.M)
    assert m, text
    a, b, c, d = map(float, m.groups())
    assert b < a and d < c                       # the knee fits have two more free parameters and start from the no-knee minimum
    m = re.search(rf"^\(p\+He\)/p at 1 TeV: inner {num}, outer {num}; at 100 TeV: inner {num}, outer {num}$", text, re.M)
    assert m, text
    r = list(map(float, m.groups()))
    assert all(1.05 < x < 3.0 for x in r)
    # one spatial Green's function for p and He: the ratio is the same in every window
    assert r[0] == pytest.approx(r[1], rel=1e-6) and r[2] == pytest.approx(r[3], rel=1e-6)
    m = re.search(rf"^ν/IceCube KRA-γ5 at 30 TeV: {num}; at 100 TeV: {num}$", text, re.M)
    assert m, text
    out = Path(cfg.output_dir) / "nuclei"
    info = json.loads((out / "nuclei.json").read_text())
    nu = info["neutrinos"]
    E = np.array(nu["E_GeV"])
    tot, p, he = (np.array(nu["E2F_per_flavour_GeV_cm2_s"][k]) for k in ("total", "p", "He"))
    np.testing.assert_allclose(tot, p + he, rtol=1e-12)
    i = int(np.argmin(abs(E - 3e4)))
    from fpgal.emission.skydata import load_icecube_galactic_plane
    ref = load_icecube_galactic_plane("kra5")
    ice = np.exp(np.interp(np.log(3e4), np.log(ref.E_GeV), np.log(ref.E2F)))
    assert float(m.group(1)) == pytest.approx(tot[i] / ice, rel=2e-3)
    from fpgal.emission import products
    m_all, E_all, _ = products.load_h5(out / "neutrino_all_flavour_maps.h5")
    m_one, _, _ = products.load_h5(out / "neutrino_per_flavour_maps.h5")
    np.testing.assert_allclose(m_one, m_all / 3.0, rtol=1e-14)
    np.testing.assert_allclose(E_all ** 2 * 4 * np.pi * m_one.mean(axis=1), tot, rtol=1e-12)
    for name in ("local_helium_spectrum.png", "spectrum_lhaaso_inner.png", "neutrinos_vs_icecube.png",
                 "gamma_He_maps.h5"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize("sections,match", [
    ({"species": {"epsilon": 0.5}}, "species.epsilon"),
    ({"species": {"helium_experiments": ["NoSuchBalloon"]}}, "species.helium_experiments"),
    ({"losses": {"pp": True}}, "pure diffusion only"),
    ({"neutrinos": {"E_min_GeV": 1e6, "E_max_GeV": 1e3}}, "neutrinos.E_min_GeV"),
])
def test_nuclei_config_errors_name_the_key(tmp_path, sections, match):
    with pytest.raises(ConfigError, match=match):
        check_study(nuclei_config(tmp_path, **sections), {"nuclei"})


def test_unknown_species_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="species.carbon"):
        nuclei_config(tmp_path, species={"carbon": True})
