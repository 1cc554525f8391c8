"""Configuration: TOML files validated into typed, frozen objects before any work starts.

Every section is a dataclass whose fields carry their documentation, allowed values and bounds
(``setting(...)``); :func:`load_config` rejects unknown keys, wrong types and out-of-range values with
an error that names the key, the value and what is allowed. ``docs/config.md`` is generated from
this schema (``python -m fpgal.app.config --markdown``) so it cannot drift.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import tomllib
import typing
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from ..core import units

DEFAULT_STUDY = Path(__file__).resolve().parent / "default_study.toml"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names key, value and what is allowed."""


def setting(default: Any, doc: str, *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, min_exclusive: bool = False, units: str = "", nonempty: bool = False):
    """A documented config field. ``min``/``max`` also apply to each item of a list."""
    meta = dict(doc=doc, choices=choices, min=min, max=max, min_exclusive=min_exclusive, units=units,
                nonempty=nonempty)
    if isinstance(default, (list, dict)):
        return dc_field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dc_field(default=default, metadata=meta)


# ------------------------------------------------------------------------------------------ sections
@dataclass(frozen=True)
class GridConfig:
    mesh: str = setting("milkyway-1kpc", "Named mesh in meshes/ (or a path to a mesh TOML file).")
    n_E: int = setting(0, "Override the mesh's number of energies (0 keeps the mesh's).", min=0)
    E_min_GeV: float = setting(0.0, "Override the lowest kinetic energy (0 keeps the mesh's).", min=0.0, units="GeV")
    E_max_GeV: float = setting(0.0, "Override the highest kinetic energy (0 keeps the mesh's).", min=0.0, units="GeV")


@dataclass(frozen=True)
class ObserverConfig:
    sun_distance_kpc: float = setting(units.sun_distance_kpc, "Distance Sun–Galactic centre; the Sun sits at (−d, 0, 0).",
                                      min=0.0, min_exclusive=True, units="kpc")
    sun_z_kpc: float = setting(0.0, "Height of the Sun above the plane.", units="kpc")


@dataclass(frozen=True)
class FieldConfig:
    model: str = setting("uf23:base", "Field model: uf23:<base|neCL|expX|spur|cre10|synCG|twistX|nebCor>, jf12, "
                         "jf12-solenoidal, uniform, ring, logspiral, xfield, or gridded:<file.h5>.")
    params: dict = setting({}, "Extra keyword arguments of the field model (e.g. B_muG for uniform).")


@dataclass(frozen=True)
class DiffusionConfig:
    D0_cm2_s: float = setting(1.0e29, "Normalization D0 of D∥(E) = D0 (E/E_br)^γ1 (1+(E/E_br)^(γ2−γ1))^−1.",
                              min=0.0, min_exclusive=True, units="cm^2/s")
    E_br_GeV: float = setting(64.38, "Break energy E_br of D∥(E).", min=0.0, min_exclusive=True, units="GeV")
    gamma1: float = setting(0.335, "High-energy index γ1 of D∥(E).")
    gamma2: float = setting(-0.321, "Index γ2 of D∥(E).")
    epsilon: list = setting([0.1, 0.01, 0.001], "Anisotropies ε = D⊥/D∥ to solve for, each in (0, 1].",
                            min=0.0, max=1.0, min_exclusive=True, nonempty=True)
    law: str = setting("broken-power-law", "D∥(E) law: broken-power-law (above) or crpropa (CRPropa 3's "
                       "D∥ = D0_cm2_s (E/Z / 4 GV)^(1/3); D0_cm2_s = scale · 6.1e28; E_br_GeV, gamma1, gamma2 unused).",
                       choices=("broken-power-law", "crpropa"))


@dataclass(frozen=True)
class SourceConfig:
    distribution: str = setting("pulsar", "Spatial source distribution: pulsar (Blasi & Amato 2012 with four spiral "
                                "arms, as CRPropa), snr (Case & Bhattacharya 1998), lorimer2006, yusifov2004, "
                                "uniform, gaussian.")
    params: dict = setting({}, "Extra keyword arguments of the source distribution.")


@dataclass(frozen=True)
class SpectrumConfig:
    Q0: float = setting(1.0, "Injection normalization: the low-momentum branch extrapolated to p_br (the fit "
                        "replaces it).", min=0.0, min_exclusive=True,
                        units="GeV^-1 cm^-3 s^-1 (per unit source density)")
    p_br_GeV: float = setting(500.0, "Break momentum p_br of Q(p).", min=0.0, min_exclusive=True, units="GeV/c")
    alpha1: float = setting(-2.35, "Index α1 below the break, Q ∝ p^α1.")
    alpha2: float = setting(-2.1, "Index α2 above the break.")
    w: float = setting(0.1, "Smoothness w of the break.", min=0.0, min_exclusive=True)
    E_cut_GeV: float = setting(0.0, "Exponential cutoff (knee) energy; 0 means none.", min=0.0, units="GeV")


@dataclass(frozen=True)
class BoundaryConfig:
    type: str = setting("cylinder", "Escape boundary: cylinder (r < R, |z| < H) or box (the grid faces).",
                        choices=("cylinder", "box"))
    R_kpc: float = setting(20.0, "Cylinder radius R.", min=0.0, min_exclusive=True, units="kpc")
    H_kpc: float = setting(4.0, "Halo half-height H.", min=0.0, min_exclusive=True, units="kpc")


@dataclass(frozen=True)
class LossesConfig:
    pp: bool = setting(False, "Catastrophic pp losses on the gas: each energy becomes its own solve (no "
                       "factorization); energies stay uncoupled, so the fit's reweighting stays exact.")
    gas: str = setting("nakanishi-sofue", "Gas model for the pp losses.")


@dataclass(frozen=True)
class SolverConfig:
    ksp_type: str = setting("cg", "PETSc KSP type (command-line -ksp_type wins).")
    pc_type: str = setting("gamg", "PETSc PC type (command-line -pc_type wins).")
    rtol: float = setting(1e-10, "Relative residual tolerance.", min=0.0, max=1.0, min_exclusive=True)
    max_it: int = setting(2000, "Maximum Krylov iterations.", min=1)
    petsc: dict = setting({}, "Further PETSc options, e.g. {pc_gamg_threshold = 0.02}; flattened to -key value.")


@dataclass(frozen=True)
class SDEConfig:
    enabled: bool = setting(False, "Also run the SDE solver for the first ε (cross-check; slower).")
    n_particles: int = setting(200000, "Number of pseudo-particles.", min=1)
    seed: int = setting(20250701, "Random seed (results are reproducible for a seed).", min=0)
    mode: str = setting("ito", "ito (with ∇·D drift) or crpropa (CRPropa DiffusionSDE algorithm).",
                        choices=("ito", "crpropa"))
    dt_s: float = setting(0.0, "Time step at E = 1 TeV; 0 picks one from the field's geometry (rms step "
                          "0.15 × the tensor's gradient length, docs/sde.md); every run also makes the Richardson "
                          "pair at 2 dt and stores the step bias with the result.", min=0.0, units="s")
    lookup_kpc: float = setting(0.0, "Node spacing of the lookup table the particles read (S and ∇·S for ito, the "
                                "signed field direction for crpropa mode); 0: half the smallest mesh cell.",
                                min=0.0, units="kpc")
    kernel: str = setting("auto", "Particle engine: auto (the compiled numba kernel where it applies, docs/sde.md), "
                          "numba, or numpy (the reference engine).", choices=("auto", "numba", "numpy"))
    step_bias: str = setting("pair", "pair: also run at 2 dt and store the step bias and its bound with the result "
                             "(1.5× the cost); extrapolate: return the Richardson-extrapolated density 2n(dt) − "
                             "n(2 dt); off: the single run (docs/sde.md).", choices=("pair", "extrapolate", "off"))


@dataclass(frozen=True)
class FitConfig:
    experiments: list = setting(["AMS-02-2021", "PAMELA", "CALET", "DAMPE-2025", "ISS-CREAM", "IceTop_IceCube",
                                 "GRAPES-3", "LHAASO_QGSJET-II-04"],
                                "Proton data sets to fit: dataset labels (or unique prefixes) of the tables in fpgal/core/data/cosmic_rays/ (docs/data.md).", nonempty=True)
    E_min_GeV: float = setting(10.0, "Lower end of the fit window (kinetic energy).", min=0.0, units="GeV")
    E_max_GeV: float = setting(3.0e6, "Upper end of the fit window.", min=0.0, units="GeV")
    radius_kpc: float = setting(0.1, "Radius of the local sphere around the Sun.", min=0.0, min_exclusive=True,
                                units="kpc")
    free: list = setting(["Q0", "alpha1", "alpha2", "p_br_GeV", "w"], "Free parameters of Q(p).",
                         nonempty=True)
    phi_GV: float = setting(0.6, "Force-field solar modulation potential applied to the model flux "
                            "(lowers it by ~24 % at 10 GeV, 3 % at 100 GeV; 0 switches it off).", min=0.0,
                            units="GV")
    knee: bool = setting(False, "Also fit p (and He) with the second, knee break of eq. 2 (p_knee, α3 free, "
                         "w_knee = 0.1) in the knee window; the nuclei stage compares χ² with and without it and "
                         "rescales its maps with the knee fits (docs/fit.md).")
    knee_E_max_GeV: float = setting(1.0e7, "Upper end of the knee window (proton kinetic energy; helium at equal "
                                    "rigidity); the window starts at E_min_GeV.", min=0.0, min_exclusive=True,
                                    units="GeV")


@dataclass(frozen=True)
class SkymapConfig:
    nside: int = setting(32, "HEALPix nside of the maps (power of two).", min=1)
    E_gamma_GeV: list = setting([1000.0], "Energies of the sky maps.", min=0.0, min_exclusive=True, units="GeV",
                                nonempty=True)
    spectrum_E_min_GeV: float = setting(100.0, "Lowest energy of the regional spectra.", min=0.0,
                                        min_exclusive=True, units="GeV")
    spectrum_E_max_GeV: float = setting(1.0e6, "Highest energy of the regional spectra.", min=0.0,
                                        min_exclusive=True, units="GeV")
    spectrum_n_E: int = setting(13, "Number of energies of the regional spectra.", min=1)
    particle: str = setting("gamma", "Secondary particle.", choices=("gamma", "neutrino"))
    cross_section: str = setting("aafrag", "Cross-section model (aafrag, kafexhiu, kamae).",
                                 choices=("aafrag", "kafexhiu", "kamae"))
    gas: str = setting("nakanishi-sofue", "Gas model (nakanishi-sofue, ferriere, uniform, cube:<file.h5>).")
    helium_fraction: float = setting(0.1, "Number fraction of helium relative to hydrogen in the gas.", min=0.0)


@dataclass(frozen=True)
class SpeciesConfig:
    helium: bool = setting(False, "Add CR helium: the proton Green's function re-labelled in rigidity (same D∥ at "
                           "equal rigidity, no new solve), its own eq. 2 fitted to the helium data, He–H/He–He "
                           "emission (nuclei stage, docs/fit.md).")
    epsilon: float = setting(0.1, "ε of the solve used by the nuclei stage (one of diffusion.epsilon).", min=0.0,
                             max=1.0, min_exclusive=True)
    helium_experiments: list = setting(["AMS-02", "PAMELA", "CALET", "DAMPE", "CREAM", "NUCLEON", "IceTop_IceCube",
                                        "LHAASO_QGSJET-II-04"], "Helium data sets to fit (dataset labels or unique "
                                       "prefixes of the He tables in fpgal/core/data/cosmic_rays/).", nonempty=True)


@dataclass(frozen=True)
class NeutrinosConfig:
    enabled: bool = setting(False, "Neutrino sky (all-flavour and per-flavour) from the nuclei stage's CRs and the "
                            "all-sky per-flavour E²F compared with IceCube's 2023 KRA-γ fits (docs/emission.md).")
    E_min_GeV: float = setting(1.0e3, "Lowest neutrino energy.", min=0.0, min_exclusive=True, units="GeV")
    E_max_GeV: float = setting(1.0e6, "Highest neutrino energy.", min=0.0, min_exclusive=True, units="GeV")
    n_E: int = setting(10, "Number of neutrino energies (30 and 100 TeV are always added).", min=2)


#: `fpgal scan` defaults: the eight UF23 variants and JF12 solenoidal; ten ε log-spaced 1e-3 … 1 (ε = 1 isotropic)
SCAN_MODELS = [f"uf23:{m}" for m in ("base", "neCL", "expX", "spur", "cre10", "synCG", "twistX", "nebCor")] + \
    ["jf12-solenoidal"]
SCAN_EPSILON = [float(f"{10.0 ** (-3.0 + k / 3.0):.6g}") for k in range(10)]


@dataclass(frozen=True)
class ScanConfig:
    models: list = setting(SCAN_MODELS, "`fpgal scan`: field models to scan (names as field.model; field.params "
                           "apply only to the study's own field.model).", nonempty=True)
    epsilon: list = setting(SCAN_EPSILON, "`fpgal scan`: anisotropies ε = D⊥/D∥, each in (0, 1] (ε = 1 isotropic; "
                            "the inner/outer ratio plot divides by ε = 1 when present).",
                            min=0.0, max=1.0, min_exclusive=True, nonempty=True)
    nuclei_factor: float = setting(1.0, "`fpgal scan`: fixed factor on the predicted γ intensity for CR nuclei "
                                   "heavier than protons (1: protons only; ~1.5–1.8 is the usual nuclear "
                                   "enhancement, docs/scan.md).", min=0.0, min_exclusive=True)
    nuclei_factor_free: bool = setting(False, "`fpgal scan`: fit the nuclei factor instead (analytic best-fit "
                                       "scale of the predicted LHAASO inner+outer spectra, one per model and ε).")
    row_plots: bool = setting(False, "`fpgal scan`: also the PNGs `fpgal run` makes per (model, ε) (local spectrum, "
                              "sky maps); they cost ~85 % of the post-processing time of a row.")


@dataclass(frozen=True)
class Config:
    """A whole study. ``text`` keeps the TOML it came from (written into every output's provenance)."""
    output_dir: str = setting("fpgal-output", "Folder for every product of the run.")
    data_dir: str = setting("", "Folder of reference tables replacing the ones shipped in fpgal/core/data "
                                "(default: $FPGAL_DATA, else the packaged tables; format: docs/data.md).")
    log_level: str = setting("INFO", "Logging level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    plugins: list = setting([], "Python files (relative to this config) or module names imported before the "
                                "run; they register user fields, sources, spectra or gas models by name "
                                "(fpgal.plugins, docs/architecture.md).")
    grid: GridConfig = dc_field(default_factory=GridConfig)
    observer: ObserverConfig = dc_field(default_factory=ObserverConfig)
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    diffusion: DiffusionConfig = dc_field(default_factory=DiffusionConfig)
    source: SourceConfig = dc_field(default_factory=SourceConfig)
    spectrum: SpectrumConfig = dc_field(default_factory=SpectrumConfig)
    boundary: BoundaryConfig = dc_field(default_factory=BoundaryConfig)
    losses: LossesConfig = dc_field(default_factory=LossesConfig)
    solver: SolverConfig = dc_field(default_factory=SolverConfig)
    sde: SDEConfig = dc_field(default_factory=SDEConfig)
    fit: FitConfig = dc_field(default_factory=FitConfig)
    skymap: SkymapConfig = dc_field(default_factory=SkymapConfig)
    species: SpeciesConfig = dc_field(default_factory=SpeciesConfig)
    neutrinos: NeutrinosConfig = dc_field(default_factory=NeutrinosConfig)
    scan: ScanConfig = dc_field(default_factory=ScanConfig)
    text: str = dc_field(default="", metadata=dict(internal=True), compare=False)

    @property
    def sun_kpc(self) -> tuple[float, float, float]:
        return (-self.observer.sun_distance_kpc, 0.0, self.observer.sun_z_kpc)

    def section_text(self, *names: str) -> str:
        """Canonical text of some sections (to check whether a stage's inputs changed)."""
        return "\n".join(f"[{n}] {dataclasses.asdict(getattr(self, n)) if dataclasses.is_dataclass(getattr(self, n)) else getattr(self, n)!r}"
                         for n in names)


# ------------------------------------------------------------------------------------------ validation
_SCALAR_TYPES = {float: "a number", int: "an integer", str: "a string", bool: "true or false",
                 list: "a list", dict: "a table"}


def _check_value(key: str, value: Any, ftype: type, meta: dict) -> Any:
    def fail(expected: str):
        raise ConfigError(f"config key {key!r} = {value!r}: expected {expected}")

    if ftype is bool:
        if not isinstance(value, bool):
            fail("true or false")
    elif ftype is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
    elif ftype is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        value = float(value)
        if not math.isfinite(value):
            fail("a finite number")
    elif ftype is str:
        if not isinstance(value, str):
            fail("a string")
    elif ftype is list:
        if not isinstance(value, list):
            fail("a list")
        if meta.get("nonempty") and not value:
            fail("a non-empty list")
        value = list(value)
    elif ftype is dict:
        if not isinstance(value, dict):
            fail("a table")
    items = value if isinstance(value, list) else [value]
    for item in items:
        if meta.get("choices") is not None and item not in meta["choices"]:
            fail(f"one of {', '.join(map(repr, meta['choices']))}")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None or hi is not None:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                fail("finite numbers" if isinstance(value, list) else "a finite number")
            if lo is not None and (item < lo or (meta.get("min_exclusive") and item <= lo)):
                rng = f"{'>' if meta.get('min_exclusive') else '>='} {lo:g}"
                fail(f"values {rng}" + (f" and <= {hi:g}" if hi is not None else ""))
            if hi is not None and item > hi:
                fail(f"values <= {hi:g}" + (f" and {'>' if meta.get('min_exclusive') else '>='} {lo:g}"
                                              if lo is not None else ""))
    if isinstance(value, list) and meta.get("min") is not None:
        value = [float(v) if not isinstance(v, bool) else v for v in value]
    return value


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section [{prefix.rstrip('.')}] must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(f"unknown config key(s) {', '.join(repr(prefix + k) for k in unknown)}; "
                          f"allowed in {'[' + prefix.rstrip('.') + ']' if prefix else 'the top level'}: {allowed}")
    kwargs = {}
    for name, value in data.items():
        ftype = hints[name]
        if dataclasses.is_dataclass(ftype):
            kwargs[name] = _build(ftype, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_value(prefix + name, value, ftype, dict(fields[name].metadata))
    return cls(**kwargs)


def _cross_checks(cfg: Config) -> None:
    if cfg.fit.E_max_GeV <= cfg.fit.E_min_GeV:
        raise ConfigError(f"config keys 'fit.E_min_GeV' = {cfg.fit.E_min_GeV} and 'fit.E_max_GeV' = "
                          f"{cfg.fit.E_max_GeV}: expected E_min_GeV < E_max_GeV")
    if cfg.skymap.spectrum_E_max_GeV < cfg.skymap.spectrum_E_min_GeV:
        raise ConfigError("config keys 'skymap.spectrum_E_min_GeV' > 'skymap.spectrum_E_max_GeV': expected min <= max")
    nside = cfg.skymap.nside
    if nside & (nside - 1):
        raise ConfigError(f"config key 'skymap.nside' = {nside}: expected a power of two (1, 2, 4, ..., 8192)")
    allowed_free = {"Q0", "alpha1", "alpha2", "p_br_GeV", "w"}
    bad = [p for p in cfg.fit.free if p not in allowed_free]
    if bad:
        raise ConfigError(f"config key 'fit.free' = {cfg.fit.free!r}: unknown parameter(s) {bad}; "
                          f"allowed: {sorted(allowed_free)}")
    if (cfg.grid.E_min_GeV and cfg.grid.E_max_GeV) and cfg.grid.E_max_GeV <= cfg.grid.E_min_GeV:
        raise ConfigError(f"config keys 'grid.E_min_GeV' = {cfg.grid.E_min_GeV} and 'grid.E_max_GeV' = "
                          f"{cfg.grid.E_max_GeV}: expected E_min_GeV < E_max_GeV")


def _check_scan(scan: ScanConfig) -> None:
    """[scan]: known, distinct field-model names; distinct ε (as written in file names, 6 digits)."""
    from ..model.fields import field_names
    from ..model.fields.registry import _FIELDS
    uf23 = {n.lower() for n in field_names() if n.startswith("uf23:")} | {"uf23"}
    for name in scan.models:
        ok = isinstance(name, str) and (name.strip().lower() in uf23 or name in _FIELDS
                                        or (name.startswith("gridded:") and len(name) > 8))
        if not ok:
            raise ConfigError(f"config key 'scan.models': unknown field model {name!r}; expected names from "
                              f"{', '.join(field_names())}")
    for key, items in (("scan.models", [str(m).strip().lower() for m in scan.models]),
                       ("scan.epsilon", [f"{e:g}" for e in scan.epsilon])):
        dup = sorted({x for x in items if items.count(x) > 1})
        if dup:
            raise ConfigError(f"config key {key!r}: {dup} appear(s) more than once; expected distinct values")


def config_from_dict(data: dict, text: str = "") -> Config:
    """Validate a parsed TOML dictionary into a :class:`Config`."""
    cfg = _build(Config, data, "")
    _cross_checks(cfg)
    _check_scan(cfg.scan)
    return dataclasses.replace(cfg, text=text)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Read and validate a TOML study file (``None``: the embedded default study)."""
    path = Path(path) if path is not None else DEFAULT_STUDY
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a folder; expected a TOML file")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    if not data:
        raise ConfigError(f"config file {str(path)!r} is empty; omit the file to run the embedded default "
                          f"study, or start from {str(DEFAULT_STUDY)!r}")
    for dotted, value in (overrides or {}).items():
        apply_override(data, dotted, value)
    if data.get("plugins"):
        data["plugins"] = _load_plugins(data["plugins"], path.resolve().parent)
    return config_from_dict(data, text=text)


def _load_plugins(entries: Any, base_dir: Path) -> list[str]:
    """Import the study's plugins before validation (they register the names the config uses)."""
    from .plugins import PluginError, load_plugins
    if not isinstance(entries, list):
        raise ConfigError(f"plugins = {entries!r}: expected a list of .py files or module names")
    try:
        return load_plugins(entries, base_dir)
    except PluginError as exc:
        raise ConfigError(f"plugins: {exc}") from None


def apply_override(data: dict, dotted: str, value: Any) -> None:
    """Set ``data[a][b]...[leaf] = value`` for ``dotted`` = ``"a.b.leaf"`` (``--set``), creating tables;
    a path through a value that is not a table, or with an empty part, is a :class:`ConfigError`."""
    parts = dotted.split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(f"--set {dotted!r}: expected a dotted key such as grid.mesh (no empty parts)")
    node = data
    for i, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            here = ".".join(parts[:i + 1])
            raise ConfigError(f"--set {dotted!r}: config key {here!r} = {node!r} is a value, not a section; "
                              f"set {here!r} itself")
    node[parts[-1]] = value


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML text (written next to every output)."""
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {fmt(x)}" for k, x in v.items()) + "}"
        return str(v)

    top, sections = [], []
    for f in dataclasses.fields(cfg):
        if f.metadata.get("internal"):
            continue
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            body = "\n".join(f"{g.name} = {fmt(getattr(v, g.name))}" for g in dataclasses.fields(v))
            sections.append(f"[{f.name}]\n{body}\n")
        else:
            top.append(f"{f.name} = {fmt(v)}")
    return "\n".join(top) + "\n\n" + "\n".join(sections)


def schema_markdown() -> str:
    """The config reference (Markdown), generated from the dataclasses above."""
    lines = ["# Configuration reference", "",
             "Generated from `fpgal/app/config.py` by `python -m fpgal.app.config --markdown`; do not edit by hand.",
             "Unknown keys are errors. Units are part of the key name or listed here.", ""]

    def table(cls: type, title: str, prefix: str):
        out = [f"## {title}", "", "| key | type | default | allowed | units | meaning |", "|---|---|---|---|---|---|"]
        hints = typing.get_type_hints(cls)
        nested = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            t = hints[f.name]
            if dataclasses.is_dataclass(t):
                nested.append((t, f.name))
                continue
            m = f.metadata
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            allowed = ""
            if m.get("choices"):
                allowed = ", ".join(map(str, m["choices"]))
            elif m.get("min") is not None or m.get("max") is not None:
                parts = []
                if m.get("min") is not None:
                    parts.append(f"{'>' if m.get('min_exclusive') else '≥'} {m['min']:g}")
                if m.get("max") is not None:
                    parts.append(f"≤ {m['max']:g}")
                allowed = " and ".join(parts)
            out.append(f"| `{prefix}{f.name}` | {t.__name__} | `{default!r}` | {allowed} | {m.get('units', '')} | "
                       f"{m.get('doc', '')} |")
        lines.extend(out + [""])
        for t, name in nested:
            table(t, f"[{name}]", "")

    table(Config, "Top level", "")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    if "--markdown" in sys.argv:
        print(schema_markdown())
    else:
        print(to_toml(load_config(sys.argv[1] if len(sys.argv) > 1 else None)))
