"""The scan's outputs: ``scan.csv`` (one row per model and ε), ``scan.md`` (tables, preferred ε, spread
between models) and the plots (χ²(ε), window intensities vs ε, model/reference ratio maps)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..config import Config
from ...core.files import atomic_path
from .rows import COLUMNS
from .run import E_REF_GeV, eps_tag, model_tag
from .stats import preferred_epsilon


def write_csv(rows: dict, path: Path) -> Path:
    """Rows in model order, ε ascending; floats at full precision (``repr``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for by_eps in rows.values():
            for e in sorted(by_eps):
                r = by_eps[e]
                w.writerow(["" if r.get(c) is None else repr(r[c]) if isinstance(r[c], float) else r[c]
                            for c in COLUMNS])
    return path


def chi2_gamma(r: dict) -> float:
    return r["chi2_lhaaso_inner"] + r["chi2_lhaaso_outer"]


def preferred(rows: dict) -> dict:
    """Per model: :func:`fpgal.scan.stats.preferred_epsilon` of χ²_inner + χ²_outer."""
    return {m: preferred_epsilon(np.array(sorted(b)), np.array([chi2_gamma(b[e]) for e in sorted(b)]))
            for m, b in rows.items()}


def reference_model(models: list[str]) -> str:
    """UF23 base (``uf23:base`` or ``uf23``) when scanned, else the first model."""
    return next((m for m in models if m.strip().lower() in ("uf23:base", "uf23")), models[0])


def _interval(p: dict) -> str:
    if not math.isfinite(p["lo"]):
        return "–"
    lo = f"≤ {p['lo']:.3g}" if p["lo_at_edge"] else f"{p['lo']:.3g}"
    hi = f"≥ {p['hi']:.3g}" if p["hi_at_edge"] else f"{p['hi']:.3g}"
    return f"[{lo}, {hi}]"


def _table(rows: dict, eps: list[float], cell) -> list[str]:
    out = ["| model | " + " | ".join(f"{e:.3g}" for e in eps) + " |", "|---|" + "---|" * len(eps)]
    return out + [f"| {m} | " + " | ".join(cell(b[e]) if e in b else "–" for e in eps) + " |"
                  for m, b in rows.items()]


def spread_lines(rows: dict, eps: list[float]) -> list[str]:
    """At each ε: max/min over models of the 1 TeV window intensities, the χ² range and the best model."""
    out = ["| ε | I_inner max/min | I_outer max/min | χ²_γ min … max | best model |", "|---|---|---|---|---|"]
    for e in eps:
        rs = [(m, b[e]) for m, b in rows.items() if e in b]
        ii = [r["I_inner_1TeV"] for _, r in rs]
        io = [r["I_outer_1TeV"] for _, r in rs]
        c = [chi2_gamma(r) for _, r in rs]
        out.append(f"| {e:.3g} | {max(ii) / min(ii):.3f} | {max(io) / min(io):.3f} | {min(c):.1f} … {max(c):.1f} | "
                   f"{rs[int(np.argmin(c))][0]} |")
    return out


def nearest_eps(by_eps: dict, eps: float) -> float:
    """The scanned ε nearest (in log ε) to ``eps``."""
    return min(by_eps, key=lambda x: abs(math.log(x / eps)))


def ratio_maps(cfg: Config, rows: dict, prefs: dict, out: Path) -> list[Path]:
    """Each model's 1 TeV map at its preferred ε (the nearest scanned one) over the reference model's (UF23 base)
    at its own preferred ε: log₂ ratio, Mollweide PNG. (At one common ε near 1 every ratio would be 1: isotropic
    diffusion does not see the field.)"""
    from ...emission import products
    from ..pipeline import _plot_log_ratio
    ref = reference_model(list(rows))
    best = {m: nearest_eps(rows[m], prefs[m]["best"]) for m in rows}

    def map_1TeV(model: str) -> np.ndarray:
        h5 = out / "models" / model_tag(model) / "skymaps" / f"eps_{eps_tag(best[model])}_maps.h5"
        maps, E, _ = products.load_h5(h5)
        return products.maps_at(maps, E, [E_REF_GeV])[0]
    base = map_1TeV(ref)
    return [_plot_log_ratio(products.ratio_map(map_1TeV(m), base),
                            out / "ratio_maps" / f"ratio_{model_tag(m)}_eps_{eps_tag(best[m])}_over_{model_tag(ref)}"
                                                 f"_eps_{eps_tag(best[ref])}.png",
                            f"I({m}, ε = {best[m]:.3g}) / I({ref}, ε = {best[ref]:.3g}) at 1 TeV")
            for m in rows if m != ref]


def best_spectra(cfg: Config, rows: dict, prefs: dict, out: Path) -> list[Path]:
    """Per LHAASO window: each model's window spectrum E²I(E) at its scanned ε nearest to its preferred ε, times
    the nuclei factor of that row (what its χ² compared), with the LHAASO-KM2A points."""
    from ...emission.skydata import load_lhaaso_km2a
    from ...plots.maps import plot_regional_spectra
    from .rows import window_spectra
    curves: dict[str, dict] = {"inner": {}, "outer": {}}
    E = None
    for m, b in rows.items():
        e = nearest_eps(b, prefs[m]["best"])
        E, spec = window_spectra(out / "models" / model_tag(m) / "skymaps" / f"eps_{eps_tag(e)}_maps.h5")
        f = b[e]["nuclei_factor"]
        for w in curves:
            curves[w][f"{m}, ε = {e:.3g}" + (f" × {f:.2f}" if f != 1.0 else "")] = f * spec[w]
    return [plot_regional_spectra(E, curves[w], out / f"spectra_{w}.png",
                                  data_points=[load_lhaaso_km2a(w, cfg.data_dir or None)],
                                  title=f"LHAASO {w} window: each model at its preferred ε") for w in curves]


def summary_lines(cfg: Config, rows: dict, prefs: dict) -> list[str]:
    eps = sorted({e for b in rows.values() for e in b})
    f = next(iter(next(iter(rows.values())).values()))
    mode = ("free (analytic best fit per model and ε, column nuclei_factor)" if cfg.scan.nuclei_factor_free
            else f"fixed at {cfg.scan.nuclei_factor:g}")
    n = f["n_lhaaso_inner"] + f["n_lhaaso_outer"]
    md = ["# fpgal scan", "",
          f"{len(rows)} field models × {len(eps)} ε on mesh `{cfg.grid.mesh}`, sources `{cfg.source.distribution}`, "
          f"sky maps at nside {cfg.skymap.nside}. χ²_γ = χ² of the predicted window-mean spectra against "
          f"LHAASO-KM2A inner + outer ({n} points, stat ⊕ sys, symmetrised, uncorrelated); nuclei factor {mode}. "
          f"χ²_local: the local proton fit (dof {f['dof_local']}). Definitions and caveats: docs/scan.md.", "",
          "## χ²_γ (LHAASO-KM2A inner + outer)", ""] + _table(rows, eps, lambda r: f"{chi2_gamma(r):.1f}")
    md += ["", "## Preferred ε per model (minimum of χ²_γ, Δχ² = 1 interval; parabola through the grid minimum "
           "and its neighbours in log ε)", "",
           "| model | preferred ε | Δχ² = 1 interval | χ²_γ min | grid resolves it | χ²_local there | "
           "nuclei factor there |", "|---|---|---|---|---|---|---|"]
    for m, p in prefs.items():
        b = rows[m]
        near = nearest_eps(b, p["best"])
        res = "yes" if p["resolved"] else "no: add ε here"
        md.append(f"| {m} | {p['best']:.3g} | {_interval(p)} | {p['chi2_min']:.1f} | {res} | "
                  f"{b[near]['chi2_local']:.1f} | {b[near]['nuclei_factor']:.3g} |")
    md += ["", "## E²I at 1 TeV, inner / outer window [GeV cm⁻² s⁻¹ sr⁻¹]", ""]
    md += _table(rows, eps, lambda r: f"{r['I_inner_1TeV']:.3g} / {r['I_outer_1TeV']:.3g}")
    md += ["", "## Spread between models at fixed ε", ""] + spread_lines(rows, eps)
    chi2_loc = [r["chi2_local"] for b in rows.values() for r in b.values()]
    md += ["", f"χ²_local over the whole scan: {min(chi2_loc):.2f} … {max(chi2_loc):.2f} (energies factorize, so "
           "the local fit constrains the normalisation, not ε or the field model)."]
    return md


def write_outputs(cfg: Config, rows: dict, out: Path) -> list[Path]:
    """scan.csv, scan.md and the plots; returns their paths (scan.csv first)."""
    from ...plots.scan import plot_chi2_epsilon, plot_window_ratios
    paths = [write_csv(rows, out / "scan.csv")]
    failed = [r for b in rows.values() for r in b.values() if r.get("error")]
    rows = {m: ok for m, b in rows.items() if (ok := {e: r for e, r in b.items() if not r.get("error")})}
    if not rows:
        raise RuntimeError(f"fpgal scan: every (model, ε) point failed, e.g. {failed[0]['model']} at ε = "
                           f"{failed[0]['epsilon']:g}: {failed[0]['error']} (scan.csv lists them)")
    prefs = preferred(rows)
    md = summary_lines(cfg, rows, prefs)
    title = f"{cfg.grid.mesh}, nuclei factor {'free' if cfg.scan.nuclei_factor_free else cfg.scan.nuclei_factor}"
    pngs = [plot_chi2_epsilon(rows, prefs, out / "chi2_epsilon.png", title)]
    eps_ref = max(e for b in rows.values() for e in b)
    pngs.append(plot_window_ratios(rows, eps_ref, out / "window_ratio_epsilon.png", title))
    pngs += best_spectra(cfg, rows, prefs, out)
    maps = ratio_maps(cfg, rows, prefs, out) if len(rows) > 1 else []
    for old in set((out / "ratio_maps").glob("ratio_*.png")) - set(maps):   # a preferred ε that moved
        old.unlink()
    pngs += maps
    md += ["", "## Figures", "", f"Window intensities relative to ε = {eps_ref:g}"
           + (" (isotropic)" if eps_ref == 1.0 else "") + "; spectra and ratio maps: each model at the scanned ε "
           f"nearest to its preferred ε, ratio maps over {reference_model(list(rows))} at its own.", ""]
    md += [f"![{p.name}]({p.relative_to(out)})" for p in pngs]
    if failed:
        md += ["", "## Failed points (no numbers; a rerun retries them)", ""]
        md += [f"- {r['model']}, ε = {r['epsilon']:.3g}: {r['error']}" for r in failed]
    with atomic_path(out / "scan.md") as tmp:
        tmp.write_text("\n".join(md) + "\n")
    return paths + [out / "scan.md"] + pngs
