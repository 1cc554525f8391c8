"""The nuclei stage of ``fpgal run``: CR helium, the knee and neutrinos on one proton solution.

For the solve at ε = ``species.epsilon`` (no new transport solve):

1. fits — protons and (``species.helium``) helium, each with eq. 2 in rigidity, on the proton basis
   re-labelled in rigidity (:func:`fpgal.analysis.fit.species_basis`), in the window
   [fit.E_min_GeV, fit.E_max_GeV] (or fit.knee_E_max_GeV with ``fit.knee``; helium at equal rigidity),
   without and (``fit.knee``) with the knee break;
2. densities — n_p = reference solution × Q_p/S_ref, n_He = the proton Green's function × Q_He at
   equal rigidity (:func:`fpgal.relabel.relabel_in_rigidity`), with the knee fits when ``fit.knee``;
3. gamma rays — p-only, He-only and total maps (:func:`fpgal.emission.nuclei.species_skymaps`), the
   LHAASO inner/outer window spectra and (p+He)/p at 1 and 100 TeV;
4. neutrinos (``neutrinos.enabled``) — all-flavour maps, the all-sky per-flavour E²F and its ratio to
   IceCube's KRA-γ (5 and 50 PeV) at 30 and 100 TeV.

Writes ``nuclei/nuclei.json`` (all numbers), maps (HDF5) and plots; :func:`summary_lines` gives the
summary's lines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.log import get_logger

log = get_logger(__name__)

GAMMA_RATIO_E_GeV = (1.0e3, 1.0e5)
NEUTRINO_RATIO_E_GeV = (3.0e4, 1.0e5)
ICECUBE_MODELS = ("kra5", "kra50")


def nuclei_enabled(cfg) -> bool:
    """Whether the study asks for the nuclei stage (helium, the knee or neutrinos)."""
    return bool(cfg.species.helium or cfg.fit.knee or cfg.neutrinos.enabled)


def check_nuclei(cfg) -> None:
    """Config cross-checks of the nuclei stage (ConfigError naming the key and the allowed values)."""
    from .config import ConfigError
    from ..analysis.crdata import resolve_experiment
    if not nuclei_enabled(cfg):
        return
    eps = [float(e) for e in cfg.diffusion.epsilon]
    if not any(abs(cfg.species.epsilon - e) <= 1e-12 * e for e in eps):
        raise ConfigError(f"config key 'species.epsilon' = {cfg.species.epsilon!r}: expected one of "
                          f"diffusion.epsilon = {eps}")
    if cfg.losses.pp:
        raise ConfigError("config keys 'losses.pp' = true and species/knee/neutrinos: the nuclei stage re-labels the "
                          "proton solution in rigidity, which holds for pure diffusion only; set losses.pp = false")
    if cfg.neutrinos.E_max_GeV <= cfg.neutrinos.E_min_GeV:
        raise ConfigError(f"config keys 'neutrinos.E_min_GeV' = {cfg.neutrinos.E_min_GeV:g} and "
                          f"'neutrinos.E_max_GeV' = {cfg.neutrinos.E_max_GeV:g}: expected E_min_GeV < E_max_GeV")
    if cfg.fit.knee and cfg.fit.knee_E_max_GeV <= cfg.fit.E_min_GeV:
        raise ConfigError(f"config key 'fit.knee_E_max_GeV' = {cfg.fit.knee_E_max_GeV:g}: expected > fit.E_min_GeV")
    if cfg.species.helium:
        for name in cfg.species.helium_experiments:
            try:
                resolve_experiment(name, data_dir=cfg.data_dir or None, species="He")
            except (ValueError, OSError) as exc:
                raise ConfigError(f"config key 'species.helium_experiments': {exc}") from None


def nuclei_key(cfg) -> str:
    """The solve used, and every section the stage reads."""
    from .pipeline import _data_dir_parts, solve_key
    from .stages import stage_key
    return stage_key("nuclei", solve_key(cfg, cfg.species.epsilon),
                     cfg.section_text("fit", "species", "neutrinos", "skymap", "observer", "spectrum"),
                     cfg.data_dir, *_data_dir_parts(cfg))


# ------------------------------------------------------------------------------------ steps


def fit_window(cfg) -> tuple[float, float]:
    """The proton fit window of the stage [GeV]: up to knee_E_max_GeV with the knee, else fit.E_max_GeV."""
    return cfg.fit.E_min_GeV, (cfg.fit.knee_E_max_GeV if cfg.fit.knee else cfg.fit.E_max_GeV)


def species_fits(cfg, cr_p, S_ref) -> tuple[dict, dict]:
    """{species: {"no_knee": FitResult, "knee": FitResult}} and {species: data}; step 1 of the module docstring."""
    from ..analysis.crdata import load_experiments
    from ..analysis.fit import fit_species, initial_spectrum, knee_comparison, species_basis, species_window
    f = cfg.fit
    names = {"H": list(f.experiments)}
    if cfg.species.helium:
        names["He"] = list(cfg.species.helium_experiments)
    fits, data = {}, {}
    for sp, experiments in names.items():
        lo, hi = species_window(*fit_window(cfg), sp)
        data[sp] = load_experiments(experiments, data_dir=cfg.data_dir or None, E_min_GeV=lo, E_max_GeV=hi,
                                    species=sp)
        basis = species_basis(cr_p, S_ref, sp, cfg.sun_kpc, f.radius_kpc)
        ref = S_ref if sp == "H" else None
        kw = dict(free=tuple(f.free), E_min_GeV=lo, E_max_GeV=hi, phi_GV=f.phi_GV, spectrum_ref=ref)
        if f.knee:
            fits[sp] = knee_comparison(basis, data[sp], initial_spectrum(sp), **kw)
        else:
            fits[sp] = {"no_knee": fit_species(basis, data[sp], initial_spectrum(sp), **kw)}
        for k, r in fits[sp].items():
            log.info("nuclei: %s %s χ²/dof = %.1f/%d %s", sp, k, r.chi2, r.dof,
                     ", ".join(f"{p} = {v:.4g}" for p, v in r.values.items()))
    return fits, data


def fitted_densities(cfg, cr_p, S_ref, fits: dict):
    """(n_p, n_He or None) rescaled to the fits (the knee fits when fit.knee); step 2."""
    from ..relabel import relabel_in_rigidity
    which = "knee" if cfg.fit.knee else "no_knee"
    p = fits["H"][which]
    cr_fit = cr_p.scaled(p.rescale_factor(cr_p.E_GeV))
    he = relabel_in_rigidity(cr_p, S_ref, fits["He"][which].spectrum, "He") if "He" in fits else None
    return cr_fit, he


def _energies(base, extra) -> np.ndarray:
    return np.unique(np.concatenate([np.asarray(base, dtype=float), np.asarray(extra, dtype=float)]))


def map_energies(cfg) -> tuple[np.ndarray, np.ndarray | None]:
    """Gamma-ray energies (the sky-map and spectrum energies, 1 and 100 TeV) and neutrino energies (None when off)."""
    sk, nu = cfg.skymap, cfg.neutrinos
    E_g = _energies(np.geomspace(sk.spectrum_E_min_GeV, sk.spectrum_E_max_GeV, sk.spectrum_n_E),
                    list(sk.E_gamma_GeV) + list(GAMMA_RATIO_E_GeV))
    E_nu = _energies(np.geomspace(nu.E_min_GeV, nu.E_max_GeV, nu.n_E), NEUTRINO_RATIO_E_GeV) if nu.enabled else None
    return E_g, E_nu


def sky_maps(cfg, cr_p, cr_he) -> dict[str, dict[str, np.ndarray]]:
    """``{"gamma": {"p", "He", "total"}, "neutrino": {...}}`` maps from one line-of-sight pass (steps 3–4)."""
    from . import builders
    from ..emission.nuclei import species_emissivities, stacked_skymaps, with_total
    sk = cfg.skymap
    E_g, E_nu = map_energies(cfg)
    blocks = {}
    for particle, E, xsec in (("gamma", E_g, sk.cross_section), ("neutrino", E_nu, "aafrag")):
        if E is None:
            continue
        q = species_emissivities(cr_p, cr_he, E, xsec, particle, sk.helium_fraction)
        blocks.update({(particle, k): v for k, v in q.items()})
    maps = stacked_skymaps(cr_p, builders.build_gas(cfg), blocks, sk.nside, sun_kpc=cfg.sun_kpc)
    out: dict[str, dict[str, np.ndarray]] = {}
    for (particle, k), m in maps.items():
        out.setdefault(particle, {})[k] = m
    return {particle: with_total(m) for particle, m in out.items()}


def gamma_products(cfg, E: np.ndarray, maps: dict, out_dir: Path) -> tuple[list[Path], dict]:
    """p / He / total gamma maps (HDF5, PNG), LHAASO window spectra and (p+He)/p; step 3."""
    from .config import to_toml
    from ..emission import products
    from ..plots.maps import plot_lhaaso_regions, plot_skymap
    sk = cfg.skymap
    paths = []
    for name, m in maps.items():
        paths.append(products.save_h5(out_dir / f"gamma_{name}_maps.h5", m, E, attrs={"species": name},
                                      config_text=to_toml(cfg)))
        at = products.maps_at(m, E, [sk.E_gamma_GeV[0]])[0]
        paths.append(plot_skymap(at, out_dir / f"gamma_{name}_map_{sk.E_gamma_GeV[0]:g}GeV.png",
                                 title=f"γ from CR {name}", E_GeV=sk.E_gamma_GeV[0]))
    labels = {"p": "CR protons", "He": "CR helium", "total": "p + He"}
    paths += plot_lhaaso_regions(E, {labels[k]: m for k, m in maps.items()}, out_dir, data_dir=cfg.data_dir or None)
    info = {}
    if "He" in maps:
        for e in GAMMA_RATIO_E_GeV:
            i = int(np.argmin(np.abs(E - e)))
            info[f"{e:g}"] = {w: float(products.regional_spectrum(maps["total"][i:i + 1], f"lhaaso_{w}")[0]
                                       / products.regional_spectrum(maps["p"][i:i + 1], f"lhaaso_{w}")[0])
                              for w in ("inner", "outer")}
    return paths, {"total_over_p": info, "E_GeV": E.tolist()}


def neutrino_products(cfg, E: np.ndarray, maps: dict, out_dir: Path) -> tuple[list[Path], dict]:
    """All-flavour ν maps (HDF5), all-sky per-flavour E²F, ratios to IceCube KRA-γ and the comparison plot; step 4."""
    from .config import to_toml
    from ..emission import products
    from ..emission.skydata import load_icecube_galactic_plane
    from ..emission.nuclei import icecube_ratio, per_flavour_all_sky_flux
    from ..plots.spectra import plot_neutrino_comparison
    paths = [products.save_h5(out_dir / "neutrino_all_flavour_maps.h5", maps["total"], E,
                              attrs={"particle": "neutrino (all flavours, nu + nubar)"}, config_text=to_toml(cfg)),
             products.save_h5(out_dir / "neutrino_per_flavour_maps.h5", maps["total"] / 3.0, E,
                              attrs={"particle": "neutrino per flavour (nu + nubar), flavour ratio 1:1:1 after "
                                                 "oscillation = all-flavour / 3"}, config_text=to_toml(cfg))]
    E2F = {k: E ** 2 * per_flavour_all_sky_flux(m) for k, m in maps.items()}
    refs = [load_icecube_galactic_plane(m, cfg.data_dir or None) for m in ICECUBE_MODELS]
    info = {"E_GeV": E.tolist(), "E2F_per_flavour_GeV_cm2_s": {k: v.tolist() for k, v in E2F.items()},
            "ratio": {m: icecube_ratio(E, E2F["total"], r, NEUTRINO_RATIO_E_GeV) for m, r in zip(ICECUBE_MODELS, refs)}}
    labels = {"p": "fpgal: CR protons", "He": "fpgal: CR helium", "total": "fpgal: p + He"}
    paths.append(plot_neutrino_comparison(E, {labels[k]: v for k, v in E2F.items()}, refs,
                                          out_dir / "neutrinos_vs_icecube.png",
                                          title=f"all-sky per-flavour ν, ε = {cfg.species.epsilon:g}"))
    return paths, info


def spectra_plots(cfg, fits: dict, data: dict, out_dir: Path) -> list[Path]:
    """Local p and He spectra: every data set, the fits without/with the knee and their 1σ bands."""
    from ..plots.spectra import curves_from_fits, plot_local_spectrum
    from ..analysis.fit import species_window
    paths = []
    for sp, by_kind in fits.items():
        labels = {"no_knee": f"{sp}, eq. 2", "knee": f"{sp}, eq. 2 + knee"}
        curves = curves_from_fits({labels[k]: r for k, r in by_kind.items()})
        path = out_dir / f"local_{'proton' if sp == 'H' else 'helium'}_spectrum.png"
        plot_local_spectrum(data[sp], curves, path, E_window_GeV=species_window(*fit_window(cfg), sp), bands=True,
                            title=f"CR {sp}, ε = {cfg.species.epsilon:g} ({cfg.field.model})")
        paths.append(path)
    return paths


def nuclei_stage(cfg, cr_paths: dict, out_dir: Path) -> tuple[list[Path], dict]:
    """Steps 1–4 of the module docstring for the solve at ε = species.epsilon; returns (outputs, numbers)."""
    from . import builders
    from .pipeline import _write_json, load_cr
    eps = next(e for e in cr_paths if abs(e - cfg.species.epsilon) <= 1e-12 * e)
    cr_p, S_ref = load_cr(cr_paths[eps]), builders.build_spectrum(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    fits, data = species_fits(cfg, cr_p, S_ref)
    paths = spectra_plots(cfg, fits, data, out_dir)
    info = {"epsilon": eps, "knee": bool(cfg.fit.knee), "window_GeV": list(fit_window(cfg)),
            "fits": {sp: {k: r.to_dict() for k, r in by.items()} for sp, by in fits.items()}}
    cr_fit, cr_he = fitted_densities(cfg, cr_p, S_ref, fits)
    maps = sky_maps(cfg, cr_fit, cr_he)
    E_g, E_nu = map_energies(cfg)
    p, info["gamma"] = gamma_products(cfg, E_g, maps["gamma"], out_dir)
    paths += p
    if E_nu is not None:
        p, info["neutrinos"] = neutrino_products(cfg, E_nu, maps["neutrino"], out_dir)
        paths += p
    _write_json(out_dir / "nuclei.json", info)
    return [out_dir / "nuclei.json"] + paths, _compact(info)


def _compact(info: dict) -> dict:
    """The numbers the summary reads (the manifest keeps these; nuclei.json has everything)."""
    out = {"epsilon": info["epsilon"], "knee": info["knee"], "chi2": {}}
    for sp, by in info["fits"].items():
        out["chi2"][sp] = {k: {"chi2": d["chi2"], "dof": d["dof"], "values": d["values"], "R_br_GV": d["R_br_GV"],
                               "R_knee_GV": d["R_knee_GV"]} for k, d in by.items()}
    out["total_over_p"] = info["gamma"]["total_over_p"]
    if "neutrinos" in info:
        out["neutrino_ratio"] = info["neutrinos"]["ratio"]
    return out


def _dec(x) -> str:
    return "–" if x is None else f"{float(x):.3f}"


def summary_lines(info: dict) -> list[str]:
    """The summary's nuclei section (the three script-read lines first; plain decimals)."""
    if not info:
        return []
    chi = info.get("chi2", {})

    def red(sp, kind):
        d = chi.get(sp, {}).get(kind)
        return None if not d else d["chi2"] / max(d["dof"], 1)
    lines = [f"χ²/dof p: {_dec(red('H', 'no_knee'))} (knee: {_dec(red('H', 'knee'))}); "
             f"He: {_dec(red('He', 'no_knee'))} (knee: {_dec(red('He', 'knee'))})"]
    r = info.get("total_over_p", {})
    if r:
        a, b = r.get("1000", {}), r.get("100000", {})
        lines.append(f"(p+He)/p at 1 TeV: inner {_dec(a.get('inner'))}, outer {_dec(a.get('outer'))}; "
                     f"at 100 TeV: inner {_dec(b.get('inner'))}, outer {_dec(b.get('outer'))}")
    nu = info.get("neutrino_ratio", {}).get("kra5")
    if nu:
        lines.append(f"ν/IceCube KRA-γ5 at 30 TeV: {_dec(nu.get('30000'))}; at 100 TeV: {_dec(nu.get('100000'))}")
    return lines


def summary_section(info: dict) -> list[str]:
    """Markdown of the nuclei stage for summary.md: the script-read lines, then the details."""
    if not info:
        return []
    md = ["", "## CR helium, the knee and neutrinos (nuclei stage, docs/fit.md, docs/emission.md)", "",
          f"ε = {info['epsilon']:g}; fits in rigidity (helium: the proton Green's function at equal rigidity); "
          f"maps rescaled with the {'knee' if info['knee'] else 'single-break'} fits. LHAASO windows and the "
          "all-sky per-flavour neutrino flux.", ""]
    md += summary_lines(info)
    md += ["", "| species | fit | χ²/dof | R_br [GV] | R_knee [GV] | α1 | α2 | α3 |", "|---|---|---|---|---|---|---|---|"]
    for sp, by in info.get("chi2", {}).items():
        for k, d in by.items():
            v = d["values"]
            md.append(f"| {sp} | {k} | {d['chi2']:.1f}/{d['dof']} | {d['R_br_GV']:.4g} | "
                      f"{(d['R_knee_GV'] if k == 'knee' else float('nan')):.4g} | {v.get('alpha1', float('nan')):.4f} | "
                      f"{v.get('alpha2', float('nan')):.4f} | {v.get('alpha3', float('nan')):.4f} |")
    for m, r in info.get("neutrino_ratio", {}).items():
        md.append(f"- ν/IceCube {m}: 30 TeV {r['30000']:.3f} (IceCube ±1σ: {r['30000_lo']:.3f}–{r['30000_hi']:.3f}), "
                  f"100 TeV {r['100000']:.3f} ({r['100000_lo']:.3f}–{r['100000_hi']:.3f})")
    return md


__all__ = ["nuclei_enabled", "check_nuclei", "nuclei_key", "nuclei_stage", "species_fits", "fitted_densities",
           "map_energies", "sky_maps", "gamma_products", "neutrino_products", "summary_lines", "summary_section"]
