"""`fpgal run` end to end on a tiny mesh: every product appears, and resuming skips / redoes the right stages."""
import json
from pathlib import Path

import h5py
import healpy as hp
import numpy as np
import pytest

from fpgal.config import config_from_dict
from fpgal.pipeline import run_study
from _studies import milky_way_mesh

TINY_MESH = milky_way_mesh(16, 6, 11)


def tiny_config(tmp_path: Path, **sections):
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(TINY_MESH)
    data = {"output_dir": str(tmp_path / "out"), "grid": {"mesh": str(mesh)},
            "diffusion": {"epsilon": [0.1, 0.01]},
            "fit": {"free": ["Q0", "alpha1"], "experiments": ["AMS-02-2021", "DAMPE-2025"]},
            "skymap": {"nside": 8, "spectrum_n_E": 3, "spectrum_E_min_GeV": 300.0, "spectrum_E_max_GeV": 3e4}}
    for k, v in sections.items():
        data.setdefault(k, {}).update(v)
    return config_from_dict(data, text=json.dumps(data))


def mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and p.name != "stages.json"}


@pytest.mark.slow
def test_run_study_products_and_resume(tmp_path):
    cfg = tiny_config(tmp_path)
    out = Path(cfg.output_dir)
    summary = run_study(cfg)
    text = summary.read_text()
    # every figure of the paper has a counterpart
    for rel in ("fields/field_uf23_base.png", "fields/field_jf12-solenoidal.png", "fit/local_proton_spectrum.png",
                "skymaps/eps_0.1_map_1000GeV.png", "ratios/ratio_eps_0.1_over_0.01_1000GeV.png",
                "spectra/spectrum_lhaaso_inner.png", "cr/cr_eps_0.01.h5", "skymaps/eps_0.01_maps.fits"):
        assert (out / rel).is_file(), rel
    assert "χ²/dof" in text and "(ii)" in text and "(iii)" in text
    # the FITS map is healpy-readable, in Galactic coordinates, positive
    m = hp.read_map(out / "skymaps/eps_0.1_maps.fits", field=0)
    assert m.size == hp.nside2npix(8) and np.all(m > 0)
    with h5py.File(out / "cr/cr_eps_0.1.h5") as h5:
        assert h5.attrs["layout"] == "factorized"          # separable tensor, no losses: G(x) and f(E) stored
        assert h5["spatial"].attrs["units"] == "GeV^-1 cm^-3" and "config" in h5["provenance"].attrs
    # the fit rescaling is applied: the γ map normalisation follows the fitted spectrum. The map is
    # linear in n, so map(fitted) / map(reference solve) = Q_fit/S_ref at the energies that make 1 TeV
    # photons; with α1 and Q0 free that ratio is not 1, and it equals a direct sky map of the rescaled density
    fit = json.loads((out / "fit/fit_eps_0.1.json").read_text())
    assert fit["dof"] > 0 and np.isfinite(fit["chi2"])
    from fpgal.emission import products
    from fpgal.pipeline import rescale_from_fit_json
    from fpgal.result import CRDensity
    from fpgal import builders
    maps_fit, E_maps, _ = products.load_h5(out / "skymaps/eps_0.1_maps.h5")
    cr_ref = CRDensity.load(out / "cr/cr_eps_0.1.h5")
    cr_fit = rescale_from_fit_json(cr_ref, out / "fit/fit_eps_0.1.json", builders.build_spectrum(cfg))
    from fpgal import emission
    sk = cfg.skymap
    direct = {name: emission.skymap(c, builders.build_gas(cfg), E_maps, sk.nside, sun_kpc=cfg.sun_kpc,
                                    cross_section=sk.cross_section, particle=sk.particle,
                                    helium_fraction=sk.helium_fraction)
              for name, c in (("fit", cr_fit), ("ref", cr_ref))}
    np.testing.assert_allclose(maps_fit, direct["fit"], rtol=1e-10)
    assert abs(np.sum(direct["ref"]) / np.sum(direct["fit"]) - 1.0) > 0.01   # the rescaling mattered

    # resume: nothing is recomputed
    before = mtimes(out)
    run_study(cfg)
    after = mtimes(out)
    changed = [p for p in before if after.get(p) != before[p] and p.name not in ("summary.md", "config.resolved.toml")]
    assert changed == []

    # a changed sky-map setting reruns the sky maps (and what uses them) but not the transport solves
    cfg2 = tiny_config(tmp_path, skymap={"nside": 16})
    run_study(cfg2)
    again = mtimes(out)
    assert again[out / "cr/cr_eps_0.1.h5"] == before[out / "cr/cr_eps_0.1.h5"]
    assert again[out / "fit/fit_eps_0.1.json"] == before[out / "fit/fit_eps_0.1.json"]
    assert again[out / "skymaps/eps_0.1_maps.h5"] != before[out / "skymaps/eps_0.1_maps.h5"]
    assert hp.get_nside(hp.read_map(out / "skymaps/eps_0.1_maps.fits", field=0)) == 16
    assert again[out / "ratios/ratio_eps_0.1_over_0.01_1000GeV.png"] != before[out / "ratios/ratio_eps_0.1_over_0.01_1000GeV.png"]

    # a changed transport setting reruns the solve of that problem
    cfg3 = tiny_config(tmp_path, skymap={"nside": 16}, diffusion={"D0_cm2_s": 2e29})
    run_study(cfg3, only=["solve"])
    assert mtimes(out)[out / "cr/cr_eps_0.1.h5"] != before[out / "cr/cr_eps_0.1.h5"]


def test_unknown_stage_is_an_error(tmp_path):
    from fpgal.config import ConfigError
    with pytest.raises(ConfigError, match="solv"):
        run_study(tiny_config(tmp_path), only=["solv"])
