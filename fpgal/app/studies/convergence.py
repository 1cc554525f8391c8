"""Mesh convergence of a study: each product's change per refinement, its observed order and a
Richardson error of the finest mesh's value (the estimator, its order rules and references:
:mod:`fpgal.analysis.richardson`).

:func:`converge` solves a study on a list of cubic meshes (``fpgal converge``);
:func:`companion_stage` is the ``mesh_error`` stage of ``fpgal run``: the study once more on a mesh
with twice the spacing, so every finding in ``summary.md`` carries the error of its mesh
(:func:`mesh_error_notes`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ...analysis.richardson import ORDER_ASSUMED, ORDER_MAX, ORDER_MIN, refinement_ratio, richardson

if TYPE_CHECKING:
    from ..config import Config
    from ...core.grid import Grid

#: energies of the local CR density reported per mesh (GeV)
LOCAL_E_GeV = (10.0, 1.0e3, 1.0e6)
#: the stages a convergence run (and the companion solve) needs
STAGES = ["solve", "fit", "skymap", "ratios"]
#: the ratio findings as fpgal.report.findings decides them: (id, ratio-stage key prefix, ((window, sense), ...));
#: a finding holds when every ratio is on its side of 1 (``>``: above, ``<``: below)
FINDING_RATIOS = (("(ii)", "0.1/0.01", (("inner", ">"), ("outer", "<"))),
                  ("(iii)", "0.01/0.001", (("all_sky", ">"), ("inner", ">"), ("outer", ">"))))
CHI2_MAX = 3.0   # finding (i): χ²/dof ≤ 3 for every ε
WINDOW_LABELS = {"all_sky": "all-sky", "inner": "LHAASO inner", "outer": "LHAASO outer"}


# ------------------------------------------------------------------------------------------ products of a run
def _product(value: float, label: str, units: str, finding: str = "", threshold: float | None = None,
             sense: str = "") -> dict:
    """A product: its value, and for a finding's number the threshold and the side (``>``/``<``) on which it holds."""
    return {"value": float(value), "label": label, "units": units, "finding": finding, "threshold": threshold,
            "sense": sense}


def local_density_products(cfg: Config, cr_paths: dict[float, Path]) -> dict[str, dict]:
    """n(E) at the Sun (sphere of ``fit.radius_kpc``, reference spectrum, before the fit) at LOCAL_E_GeV
    for every ε; log-log interpolated on the grid's energies (energies outside the grid are left out)."""
    from ..pipeline import load_cr
    out = {}
    for eps, path in sorted(cr_paths.items(), reverse=True):
        cr = load_cr(path)
        E = np.asarray(cr.E_GeV, dtype=float)
        n = np.asarray(cr.local_spectrum(cfg.sun_kpc, cfg.fit.radius_kpc), dtype=float)
        for E0 in LOCAL_E_GeV:
            if E[0] <= E0 <= E[-1] and np.all(n > 0):
                value = float(np.exp(np.interp(np.log(E0), np.log(E), np.log(n))))
                out[f"n_sun_{E0:g}GeV_eps_{eps:g}"] = _product(value, f"n_⊙({E0:g} GeV), ε = {eps:g}", "GeV⁻¹ cm⁻³")
    return out


def window_products(cfg: Config, map_files: dict[float, Path]) -> dict[str, dict]:
    """Mean intensity at the first map energy in the all-sky / LHAASO inner / outer windows for every ε
    (:func:`fpgal.pipeline.window_means`, the numbers behind the ratio stage)."""
    from ..pipeline import window_means
    E0 = float(cfg.skymap.E_gamma_GeV[0])
    out = {}
    for eps, path in sorted(map_files.items(), reverse=True):
        for win, value in window_means(path, E0).items():
            out[f"I_{win}_{E0:g}GeV_eps_{eps:g}"] = _product(
                value, f"I({E0:g} GeV) {WINDOW_LABELS.get(win, win)}, ε = {eps:g}", "GeV⁻¹ cm⁻² s⁻¹ sr⁻¹")
    return out


def finding_products(fit_info: dict, ratio_info: dict) -> dict[str, dict]:
    """The numbers the findings are decided on (fpgal.report.findings): χ²/dof of every ε (criterion ≤ 3),
    I(0.1)/I(0.01) inner and outer (ii: > 1 and < 1), I(0.01)/I(0.001) all-sky, inner, outer (iii: > 1)."""
    out = {}
    for eps, d in sorted(fit_info.items(), key=lambda kv: -float(kv[0])):
        if d and d.get("dof"):
            out[f"chi2dof_eps_{float(eps):g}"] = _product(d["chi2"] / max(d["dof"], 1), f"χ²/dof, ε = {float(eps):g}",
                                                          "1", "(i)", CHI2_MAX, "<")
    for fid, prefix, windows in FINDING_RATIOS:
        key = next((k for k in ratio_info if k.startswith(prefix)), None)
        if key is None:
            continue
        r = ratio_info[key]
        for win, sense in windows:
            if r.get(win) is not None:
                out[f"ratio_{prefix}_{win}"] = _product(r[win], f"I({prefix.replace('/', ')/I(')}) "
                                                        f"{WINDOW_LABELS[win]}", "1", fid, 1.0, sense)
    return out


def products_from_output(cfg: Config, out: str | Path) -> dict[str, dict]:
    """Every product of a finished run in ``out`` (its manifest ``stages.json``): local densities, window
    intensities and the findings' numbers. Rank-0 work (reads files only)."""
    from ..stages import Manifest
    out = Path(out)
    entries = Manifest(out).entries
    cr_paths = {e: out / "cr" / f"cr_eps_{e:g}.h5" for e in cfg.diffusion.epsilon}
    map_files = {}
    for e in cfg.diffusion.epsilon:
        h5s = [o for o in entries.get(f"skymap_eps_{e:g}", {}).get("outputs", []) if o.endswith(".h5")]
        if h5s:
            map_files[e] = out / h5s[0]
    fit_info = entries.get("fit", {}).get("info", {}) or {}
    ratio_info = entries.get("ratios", {}).get("info", {}) or {}
    return (local_density_products(cfg, {e: p for e, p in cr_paths.items() if p.is_file()})
            | window_products(cfg, map_files) | finding_products(fit_info, ratio_info))


# ------------------------------------------------------------------------------------------ meshes
def cells_for_spacing(grid: Grid, h_kpc: float) -> tuple[int, int, int]:
    """Cells per axis of ``grid``'s box at the cubic spacing ``h_kpc`` (ValueError unless h divides every side)."""
    h = float(h_kpc)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"mesh spacing {h_kpc!r} kpc: expected a positive number")
    sides = grid.upper_kpc - grid.lower_kpc
    n = sides / h
    cells = np.rint(n).astype(int)
    if np.any(np.abs(n - cells) > 1e-6 * np.maximum(n, 1.0)) or np.any(cells < 2):
        raise ValueError(f"mesh spacing {h:g} kpc: the box sides {sides.tolist()} kpc must each be a whole number "
                         f"(>= 2) of cells, got {np.round(n, 4).tolist()}")
    return tuple(int(c) for c in cells)


def mesh_toml(grid: Grid, cells: Sequence[int], name: str) -> str:
    """Mesh TOML (meshes/*.toml layout) of ``grid``'s box and energies with ``cells`` cells per axis."""
    lo, hi = grid.lower_kpc, grid.upper_kpc
    axes = "\n".join(f"{a}_kpc = [{float(lo[i])!r}, {float(hi[i])!r}, {int(cells[i])}]" for i, a in enumerate("xyz"))
    energies = ", ".join(repr(float(e)) for e in grid.E_GeV)
    return f'name = "{name}"\n\n[space]\n{axes}\n\n[energy]\nE_GeV = [{energies}]\n'


def study_on_mesh(cfg: Config, cells: Sequence[int], folder: Path, name: str) -> Config:
    """``cfg`` on the study's box with ``cells`` cells per axis, writing to ``folder`` (the mesh file
    ``folder/mesh-<content hash>.toml`` is written by rank 0; every rank returns the same config)."""
    from .. import builders
    from ...core.files import atomic_path
    from ..pipeline import on_root
    text = mesh_toml(builders.build_grid(cfg), cells, name)
    # the stage keys hash the mesh's path: the path carries a hash of the content, so another box or
    # other energies are another mesh (rerun), the same mesh keeps the run's stages current
    mesh = folder / f"mesh-{hashlib.sha256(text.encode()).hexdigest()[:12]}.toml"

    def write():
        if not mesh.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(mesh) as tmp:
                tmp.write_text(text)
    on_root(write)
    g = dataclasses.replace(cfg.grid, mesh=str(mesh), n_E=0, E_min_GeV=0.0, E_max_GeV=0.0)
    return dataclasses.replace(cfg, grid=g, output_dir=str(folder))


def _spacing_tag(h_kpc: float) -> str:
    return f"h_{h_kpc:g}kpc"


def _run_products(cfg: Config, petsc_options: dict | None, only: list[str]) -> tuple[dict, float]:
    """Run (or resume) ``cfg`` for ``only`` stages; its products (on every rank) and the wall time."""
    from ..pipeline import on_root, run_study
    t0 = time.perf_counter()
    run_study(cfg, petsc_options=petsc_options, only=only)
    wall = time.perf_counter() - t0
    return on_root(lambda: products_from_output(cfg, cfg.output_dir)), wall


# ------------------------------------------------------------------------------------------ verdicts with errors
def finding_verdict(rows: Sequence[dict]) -> str:
    """"holds", "does not hold" or "not settled" for a finding whose numbers ``rows`` (each with value,
    error, threshold, sense) must all lie on their side of the threshold: it holds when every number
    does by more than its error, fails when one lies on the wrong side by more than its error, and is
    not settled by this mesh otherwise (NaN errors count as unknown)."""
    def side(r: dict) -> int:              # +1 right side beyond the error, −1 wrong side beyond it, 0 within
        v, err, t = r["value"], r.get("error"), r["threshold"]
        if err is None or v is None or not math.isfinite(err):
            return 0
        dist = (v - t) if r["sense"] == ">" else (t - v)
        return 1 if dist > err else -1 if dist < -err else 0
    sides = [side(r) for r in rows]
    if sides and all(s == 1 for s in sides):
        return "holds"
    if any(s == -1 for s in sides):
        return "does not hold"
    return "not settled"


def _g(x: float, digits: int = 4) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def error_text(row: dict) -> str:
    """``label = value ± error`` (the finest mesh's value and its Richardson error)."""
    return f"{row['label']} = {_g(row['values'][-1])} ± {_g(row['error'], 2)}"


def findings_with_errors(products: dict[str, dict]) -> dict[str, dict]:
    """Per finding id: its numbers (with errors) and the verdict within the mesh error."""
    out: dict[str, dict] = {}
    for key, row in products.items():
        if row.get("finding"):
            out.setdefault(row["finding"], {"rows": []})["rows"].append(row)
    for f in out.values():
        f["verdict"] = finding_verdict([{**r, "value": r["values"][-1]} for r in f["rows"]])
    return out


def mesh_error_notes(lines: list[str], info: dict | None) -> list[str]:
    """The findings' sentences of ``summary.md`` (fpgal.report.findings), each followed by its mesh error
    from the ``mesh_error`` stage's ``info``, so that no verdict is given without its error."""
    by_id = findings_with_errors(info.get("products", {})) if info else {}
    out = []
    for line in lines:
        fid = line.split(" ", 1)[0]
        if fid not in ("(i)", "(ii)", "(iii)") or "not measured" in line:
            out.append(line)
        elif info and info.get("skipped"):
            out.append(f"{line} Mesh error: not measured ({info['skipped']}).")
        elif fid not in by_id:
            out.append(f"{line} Mesh error: not measured (the `mesh_error` stage did not run on this output).")
        else:
            f = by_id[fid]
            h = info["spacing_kpc"]
            out.append(f"{line} Mesh error ({h[1]:g} kpc against a {h[0]:g} kpc companion solve, Richardson with "
                       f"p = {ORDER_ASSUMED:g} assumed — err = |Δ|/(2^p − 1); observed orders in docs/validation.md "
                       f"§4): {'; '.join(error_text(r) for r in f['rows'])} → verdict within this error: "
                       f"**{f['verdict']}**.")
    return out


# ------------------------------------------------------------------------------------------ tables
def convergence_table(products_per_mesh: Sequence[dict[str, dict]], spacings_kpc: Sequence[float]) -> dict[str, dict]:
    """Per product present on every mesh: its description and :func:`richardson` over the meshes."""
    keys = [k for k in products_per_mesh[-1] if all(k in p for p in products_per_mesh)]
    table = {}
    for k in keys:
        meta = {m: v for m, v in products_per_mesh[-1][k].items() if m != "value"}
        table[k] = meta | richardson([p[k]["value"] for p in products_per_mesh], spacings_kpc).to_dict()
    return table


def table_markdown(result: dict) -> str:
    """The convergence table (one row per product) and the findings with their errors, as Markdown."""
    h = result["spacings_kpc"]
    head = (["product"] + [f"{x:g} kpc" for x in h] + [f"Δ {a:g}→{b:g}" for a, b in zip(h[:-1], h[1:])]
            + ["p observed", "p used", f"err({h[-1]:g} kpc)", "extrapolated"])
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["products"].values():
        cells = ([f"{row['label']} [{row['units']}]"] + [_g(v) for v in row["values"]]
                 + [_g(d, 2) for d in row["changes"]] + [", ".join(_g(p, 2) for p in row["orders"]) or "–",
                 f"{_g(row['order_used'], 2)} ({row['order_source']})", _g(row["error"], 2), _g(row["extrapolated"])])
        md.append("| " + " | ".join(cells) + " |")
    md += ["", "| mesh | cells | wall [s] | solve stages [s] |", "|---|---|---|---|"]
    for m in result["meshes"]:
        md.append(f"| {m['spacing_kpc']:g} kpc | {'×'.join(map(str, m['cells']))} = {m['n_cells']} | "
                  f"{m['wall_s']:.1f} | {m['solve_s']:.1f} |")
    md += ["", "Findings on the finest mesh with their Richardson errors:", ""]
    for fid, f in findings_with_errors(result["products"]).items():
        md.append(f"- {fid} **{f['verdict']}** within the mesh error: " + "; ".join(error_text(r) for r in f["rows"]))
    return "\n".join(md) + "\n"


def strict_json(obj):
    """``obj`` with every non-finite float replaced by None (strict JSON has no NaN/Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def _write(path: Path, text: str) -> None:
    from ...core.files import atomic_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _solve_seconds(out: str | Path) -> float:
    from ..stages import Manifest
    return float(sum(v.get("seconds", 0.0) for k, v in Manifest(out).entries.items() if k.startswith("solve_eps_")))


# ------------------------------------------------------------------------------------------ the commands
def checked_spacings(cfg: Config, spacings_kpc: Sequence[float]) -> tuple[list[float], list[tuple[int, int, int]]]:
    """The spacings coarse to fine and their cells per axis; ValueError naming the bad spacing (no constant
    refinement ratio, or a spacing that does not divide the study's box)."""
    from .. import builders
    spacings = sorted((float(h) for h in spacings_kpc), reverse=True)
    refinement_ratio(spacings)
    grid = builders.build_grid(cfg)
    return spacings, [cells_for_spacing(grid, h) for h in spacings]


def converge(cfg: Config, spacings_kpc: Sequence[float], out: str | Path, petsc_options: dict | None = None,
             report: Callable[[str], None] | None = None) -> dict:
    """Solve ``cfg`` on cubic meshes of ``spacings_kpc`` (coarse to fine, constant ratio) over the study's
    box and energies, each in ``out/h_<h>kpc`` (resumable), and write ``out/convergence.json`` and
    ``out/convergence.md``. Collective under MPI (every rank solves; rank 0 writes and ``report``\\ s).
    Returns the result (spacings, meshes with timings, products with their convergence)."""
    from .. import builders
    from ..pipeline import on_root
    spacings, cells = checked_spacings(cfg, spacings_kpc)          # every mesh checked before the first solve
    grid = builders.build_grid(cfg)
    out = Path(out)
    say = report or (lambda text: None)
    meshes, per_mesh = [], []
    for h, c in zip(spacings, cells):
        n = int(np.prod(c))
        on_root(lambda: say(f"mesh {h:g} kpc ({'×'.join(map(str, c))} = {n} cells): solving "
                            f"{len(cfg.diffusion.epsilon)} ε, fit, sky maps …"))
        sub = study_on_mesh(cfg, c, out / _spacing_tag(h), f"{grid.name or 'mesh'}-{h:g}kpc")
        products, wall = _run_products(sub, petsc_options, STAGES)
        meshes.append({"spacing_kpc": h, "cells": list(c), "n_cells": n, "wall_s": wall,
                       "solve_s": on_root(lambda: _solve_seconds(sub.output_dir))})
        per_mesh.append(products)
        on_root(lambda: say(f"mesh {h:g} kpc done in {wall:.1f} s"))
    result = strict_json({"field": cfg.field.model, "epsilon": list(cfg.diffusion.epsilon), "spacings_kpc": spacings,
              "meshes": meshes, "products": convergence_table(per_mesh, spacings),
              "order_rule": (f"p = log2(|Δ_coarse|/|Δ_fine|) clipped to [{ORDER_MIN:g}, {ORDER_MAX:g}]; "
                             f"assumed {ORDER_ASSUMED:g} with two meshes or non-monotone changes; "
                             "err = |Δ_fine|/(2^p − 1)")})

    def write():
        _write(out / "convergence.json", json.dumps(result, indent=1, allow_nan=False))
        _write(out / "convergence.md", table_markdown(result))
    on_root(write)
    return result


def companion_stage(cfg: Config, out: str | Path, petsc_options: dict | None = None) -> tuple[list[Path], dict]:
    """The ``mesh_error`` stage of ``fpgal run``: the study once more on the same box with twice the
    spacing (``out/mesh_error``, resumable; sky maps only at the map energies) and the Richardson error
    (p = 1 assumed) of every product of the run in ``out``. Collective; rank 0 writes
    ``out/mesh_error/mesh_error.json``. A mesh with an odd number or fewer than 8 cells on an axis is skipped."""
    from .. import builders
    from ..pipeline import on_root
    out = Path(out)
    grid = builders.build_grid(cfg)
    shape = np.asarray(grid.shape)
    path = out / "mesh_error" / "mesh_error.json"
    if np.any(shape % 2) or np.any(shape < 8):
        info = {"skipped": f"the mesh's {'×'.join(map(str, shape))} cells cannot be halved to >= 4 on every axis"}
    else:
        h = float(np.max(grid.spacing_kpc))
        sub = study_on_mesh(cfg, shape // 2, out / "mesh_error", f"{grid.name or 'mesh'}-x2")
        E0 = float(cfg.skymap.E_gamma_GeV[0])
        sub = dataclasses.replace(sub, skymap=dataclasses.replace(sub.skymap, spectrum_E_min_GeV=E0,
                                                                  spectrum_E_max_GeV=E0, spectrum_n_E=1))
        coarse, wall = _run_products(sub, petsc_options, STAGES)
        fine = on_root(lambda: products_from_output(cfg, out))
        info = strict_json({"spacing_kpc": [2 * h, h], "coarse_cells": (shape // 2).tolist(), "wall_s": wall,
                            "products": convergence_table([coarse, fine], [2 * h, h])})
    on_root(lambda: _write(path, json.dumps(info, indent=1, allow_nan=False)))
    return [path], info
