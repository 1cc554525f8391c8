"""One row of ``scan.csv``: a (model, ε) point's χ² against the data, its 1 TeV window intensities and costs."""
from __future__ import annotations

import json
from pathlib import Path

from .. import pipeline
from ..config import Config
from .stats import lhaaso_chi2

#: columns of scan.csv, in order (the first seven are the interface of docs/scan.md; ``error``: why a point
#: has no numbers, empty otherwise)
COLUMNS = ("model", "epsilon", "chi2_lhaaso_inner", "chi2_lhaaso_outer", "chi2_local", "I_inner_1TeV",
           "I_outer_1TeV", "I_allsky_1TeV", "n_lhaaso_inner", "n_lhaaso_outer", "dof_local", "nuclei_factor",
           "nuclei_factor_mode", "iterations", "true_relative_residual", "kappa_num_over_eps_kpar",
           "negative_weight_fraction", "solve_s", "ksp_s", "assembly_s", "fit_s", "skymap_s", "error")


def window_spectra(maps_h5: Path) -> tuple:
    """(E_GeV, {'inner': I(E), 'outer': I(E)}): window-mean spectra of a sky-map file
    (GeV⁻¹ cm⁻² s⁻¹ sr⁻¹)."""
    from ...emission import products
    maps, E, _ = products.load_h5(maps_h5)
    return E, {w: products.regional_spectrum(maps, f"lhaaso_{w}") for w in ("inner", "outer")}


def scan_row(cfg: Config, model: str, eps: float, maps_h5: Path, fit_json: Path, records: dict, data: dict) -> dict:
    """The row of (``model``, ``eps``): χ² of the maps' LHAASO window spectra against ``data`` (nuclei factor
    of ``cfg.scan``), the local fit's χ² (``fit_json``), E²I at 1 TeV in the inner/outer windows and over the
    sky (:func:`fpgal.pipeline.window_means`, GeV cm⁻² s⁻¹ sr⁻¹) and the solve/fit/map costs (``records``:
    the manifest entries of the solve, fit and skymap stages)."""
    from .run import E_REF_GeV
    fit = json.loads(Path(fit_json).read_text())
    E, spectra = window_spectra(maps_h5)
    row = {"model": model, "epsilon": float(eps)}
    row |= lhaaso_chi2(E, spectra, data, cfg.scan.nuclei_factor, cfg.scan.nuclei_factor_free)
    means = pipeline.window_means(maps_h5, E_REF_GeV)
    row |= {"chi2_local": float(fit["chi2"]), "dof_local": int(fit["dof"]),
            "I_inner_1TeV": E_REF_GeV ** 2 * means["inner"], "I_outer_1TeV": E_REF_GeV ** 2 * means["outer"],
            "I_allsky_1TeV": E_REF_GeV ** 2 * means["all_sky"]}
    s = records["solve"].get("info", {})
    row |= {"iterations": s.get("iterations"), "true_relative_residual": s.get("true_relative_residual"),
            "kappa_num_over_eps_kpar": s.get("numerical_diffusion_over_epsilon"),
            "negative_weight_fraction": s.get("negative_weight_fraction"),
            "solve_s": records["solve"].get("seconds"), "ksp_s": s.get("solve_time_s"),
            "assembly_s": s.get("assembly_time_s"), "fit_s": records["fit"].get("seconds"),
            "skymap_s": records["skymap"].get("seconds")}
    return {k: row.get(k) for k in COLUMNS}
