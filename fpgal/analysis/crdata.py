"""Local CR proton flux measurements (``<data_dir>/cosmic_rays/*.txt``) on one footing.

Every table is read with its own header (the column layout differs between files) and converted to
a :class:`CRData`: kinetic energy per particle ``E_GeV`` and the differential flux per unit kinetic
energy ``J`` in GeV⁻¹ m⁻² s⁻¹ sr⁻¹ (``J_cm2`` gives GeV⁻¹ cm⁻² s⁻¹ sr⁻¹, the unit of
``CRDensity.intensity``), with statistical and systematic errors (lower, upper) in the same unit.

Conversions (species of charge Z and rest energy m; protons: Z = 1, m = m_p):

* rigidity R [GV]:  p c = Z R,  E = √(p² + m²) − m,  J_E = J_R dR/dE,  dR/dE = (E + m)/(Z p) = 1/(Z β);
* total energy E_tot [GeV]:  E = E_tot − m,  J_E = J_tot (dE_tot/dE = 1);
* kinetic energy: unchanged.

A differential flux at a point converts exactly with the Jacobian; bin edges (when a table has
them, AMS-02 2015) are converted alongside. File layouts recognised:

* CRDB export (``#X Quantity: ...`` + ``#Columns: x, y, y statistical errors, y systematic errors``):
  ``x  y  stat_lo stat_hi  sys_lo sys_hi``;
* named columns (AMS-02 2015, PRL 114, 171103): ``<E> Elo Eup y ystat_lo ystat_up ysyst_lo ysyst_up
  yerrtot_lo yerrtot_up`` where the abscissa is rigidity (the file name says so; ``<E>`` is a label).

Error model used by the fit (:meth:`CRData.sigma`): statistical and systematic errors are added in
quadrature on each side, σ_lo = √(stat_lo² + sys_lo²), σ_hi = √(stat_hi² + sys_hi²); asymmetric
errors are symmetrized as (σ_lo + σ_hi)/2 (``errors="mean"``), or chosen by the side of the model
(``errors="side"``: σ_hi where the model lies above the point, σ_lo below). Systematic errors are
treated as uncorrelated between energy bins (the usual, optimistic-for-χ² simplification).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import units
from ..data import data_dir as _data_dir
from ..spectra import dR_dE, rigidity_to_kinetic_GeV

FLUX_UNITS = "GeV^-1 m^-2 s^-1 sr^-1"
FLUX_UNITS_CM2 = "GeV^-1 cm^-2 s^-1 sr^-1"
PER_M2_TO_PER_CM2 = 1.0e-4           # 1 m⁻² = 10⁻⁴ cm⁻²
SUBDIR = "cosmic_rays"
X_QUANTITIES = ("rigidity", "kineticEnergy", "totalEnergy")
ERROR_MODELS = ("mean", "side", "max")

# the fit window of the reference study: 10 GeV up to around the knee
DEFAULT_E_MIN_GeV = 10.0
DEFAULT_E_MAX_GeV = 3.0e6

_NAMED_COLUMNS = {  # header token → role, for tables with named columns
    "<e>": "x", "<r>": "x", "x": "x", "elo": "x_lo", "rlo": "x_lo", "eup": "x_hi", "rup": "x_hi",
    "y": "y", "ystat_lo": "stat_lo", "ystat_up": "stat_hi", "ysyst_lo": "sys_lo", "ysyst_up": "sys_hi",
}
_CRDB_LAYOUT = ("x", "y", "stat_lo", "stat_hi", "sys_lo", "sys_hi")


@dataclass(frozen=True, eq=False)
class CRData:
    """One experiment's proton flux on a kinetic-energy axis.

    Attributes
    ----------
    experiment : label (the file name before ``_H_``), e.g. ``"AMS-02-2021"``
    E_GeV : kinetic energy per particle [GeV], increasing
    J : differential flux per unit kinetic energy [GeV⁻¹ m⁻² s⁻¹ sr⁻¹]
    stat_lo, stat_hi, sys_lo, sys_hi : errors of J (≥ 0), same unit
    E_lo_GeV, E_hi_GeV : bin edges in kinetic energy, NaN when the table has none
    x_quantity : abscissa of the original table (``rigidity``, ``kineticEnergy``, ``totalEnergy``)
    x_raw : the original abscissa values [GV or GeV]
    reference, path : provenance
    """

    experiment: str
    E_GeV: np.ndarray
    J: np.ndarray
    stat_lo: np.ndarray
    stat_hi: np.ndarray
    sys_lo: np.ndarray
    sys_hi: np.ndarray
    E_lo_GeV: np.ndarray
    E_hi_GeV: np.ndarray
    x_quantity: str
    x_raw: np.ndarray
    reference: str = ""
    path: str = ""
    mass_GeV: float = field(default=units.m_p_GeV)

    @property
    def n(self) -> int:
        return int(self.E_GeV.size)

    def __len__(self) -> int:
        return self.n

    @property
    def J_cm2(self) -> np.ndarray:
        """Flux in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (the unit of ``CRDensity.intensity``)."""
        return self.J * PER_M2_TO_PER_CM2

    @property
    def total_lo(self) -> np.ndarray:
        """√(stat_lo² + sys_lo²) [GeV⁻¹ m⁻² s⁻¹ sr⁻¹]."""
        return np.hypot(self.stat_lo, self.sys_lo)

    @property
    def total_hi(self) -> np.ndarray:
        """√(stat_hi² + sys_hi²) [GeV⁻¹ m⁻² s⁻¹ sr⁻¹]."""
        return np.hypot(self.stat_hi, self.sys_hi)

    def sigma(self, errors: str = "mean", model_J: np.ndarray | None = None) -> np.ndarray:
        """1σ error of J used in χ² [GeV⁻¹ m⁻² s⁻¹ sr⁻¹] (module docstring: error model).

        ``errors``: ``"mean"`` (σ_lo + σ_hi)/2, ``"max"`` max(σ_lo, σ_hi), ``"side"`` σ_hi where
        ``model_J`` (same unit as J) ≥ J, else σ_lo.
        """
        lo, hi = self.total_lo, self.total_hi
        if errors == "mean":
            return 0.5 * (lo + hi)
        if errors == "max":
            return np.maximum(lo, hi)
        if errors == "side":
            if model_J is None:
                return 0.5 * (lo + hi)
            return np.where(np.asarray(model_J) >= self.J, hi, lo)
        raise ValueError(f"CRData.sigma: errors={errors!r}; expected one of {ERROR_MODELS}")

    def select(self, E_min_GeV: float = DEFAULT_E_MIN_GeV, E_max_GeV: float = DEFAULT_E_MAX_GeV) -> "CRData":
        """The points with E_min_GeV ≤ E ≤ E_max_GeV (kinetic energy)."""
        if not (E_min_GeV < E_max_GeV):
            raise ValueError(f"CRData.select: E_min_GeV={E_min_GeV} must be < E_max_GeV={E_max_GeV}")
        return self.take((self.E_GeV >= E_min_GeV) & (self.E_GeV <= E_max_GeV))

    def take(self, mask_or_index) -> "CRData":
        """A copy holding only the rows ``mask_or_index`` selects."""
        arrays = {name: getattr(self, name)[mask_or_index] for name in
                  ("E_GeV", "J", "stat_lo", "stat_hi", "sys_lo", "sys_hi", "E_lo_GeV", "E_hi_GeV", "x_raw")}
        return replace(self, **arrays)

    def flux_at(self, E_GeV) -> np.ndarray:
        """J at kinetic energies inside the table, interpolated linearly in log E – log J."""
        E = np.asarray(E_GeV, dtype=float)
        if np.any(E < self.E_GeV[0]) or np.any(E > self.E_GeV[-1]):
            raise ValueError(f"CRData.flux_at({self.experiment}): E_GeV outside the table range "
                             f"[{self.E_GeV[0]:.4g}, {self.E_GeV[-1]:.4g}] GeV")
        return np.exp(np.interp(np.log(E), np.log(self.E_GeV), np.log(self.J)))

    def __repr__(self) -> str:
        rng = f"{self.E_GeV[0]:.3g}–{self.E_GeV[-1]:.3g} GeV" if self.n else "empty"
        return f"CRData({self.experiment!r}, n={self.n}, E={rng}, from {self.x_quantity})"


# ------------------------------------------------------------------------------------ conversions


def to_kinetic_energy(x, J, quantity: str, Z: int = 1, mass_GeV: float = units.m_p_GeV):
    """Convert abscissa ``x`` and flux per unit x to (E_GeV, J per unit kinetic energy, Jacobian).

    rigidity [GV]: E = √((Z R)² + m²) − m, J_E = J_R · dR/dE with dR/dE = (E + m)/(Z p);
    totalEnergy [GeV]: E = E_tot − m, Jacobian 1; kineticEnergy [GeV]: unchanged.
    """
    x = np.asarray(x, dtype=float)
    J = np.asarray(J, dtype=float)
    if quantity == "rigidity":
        E = rigidity_to_kinetic_GeV(x, Z, mass_GeV)
        jac = dR_dE(E, Z, mass_GeV)
    elif quantity == "totalEnergy":
        if np.any(x <= mass_GeV):
            raise ValueError(f"total energies {x[x <= mass_GeV].tolist()} GeV do not exceed the rest energy "
                             f"{mass_GeV} GeV")
        E = x - mass_GeV
        jac = np.ones_like(x)
    elif quantity == "kineticEnergy":
        E = x.copy()
        jac = np.ones_like(x)
    else:
        raise ValueError(f"abscissa quantity {quantity!r}; expected one of {X_QUANTITIES}")
    return E, J * jac, jac


# ------------------------------------------------------------------------------------ reading


def _parse_header(lines: Sequence[str]) -> tuple[dict[str, str], list[str] | None]:
    """Key–value pairs of ``#Key: value`` lines and the named-column list (if one header line has one)."""
    meta: dict[str, str] = {}
    named: list[str] | None = None
    for line in lines:
        body = line.lstrip("#").strip()
        m = re.match(r"^([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$", body)
        if m:
            meta[m.group(1).strip().lower()] = m.group(2).strip()
            continue
        tokens = [t.lower() for t in body.split()]
        if "y" in tokens and any(t.startswith("ystat") for t in tokens):
            named = tokens
    return meta, named


def _label_and_quantity(path: Path) -> tuple[str, str | None]:
    m = re.match(r"^(?P<label>.+?)_H_(?P<q>[A-Za-z]+)$", path.stem)
    if not m:
        return path.stem, None
    return m.group("label"), m.group("q")


def read_table(path: str | Path, Z: int = 1, mass_GeV: float = units.m_p_GeV) -> CRData:
    """Read one ``cosmic_rays/*.txt`` table (layout from its header) and convert to kinetic energy."""
    path = Path(path)
    text = path.read_text().splitlines()
    header = [ln for ln in text if ln.lstrip().startswith("#")]
    meta, named = _parse_header(header)
    label, q_name = _label_and_quantity(path)
    q_head = meta.get("x quantity")
    if q_head and q_name and q_head != q_name:
        raise ValueError(f"{path}: header says X Quantity {q_head!r} but the file name says {q_name!r}")
    quantity = q_head or q_name
    if quantity not in X_QUANTITIES:
        raise ValueError(f"{path}: cannot tell the abscissa (header/file name give {quantity!r}); "
                         f"expected one of {X_QUANTITIES}")
    rows = [ln for ln in text if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    try:
        table = np.array([[float(v) for v in ln.split()] for ln in rows])
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric data row ({exc})") from None
    if table.ndim != 2:
        raise ValueError(f"{path}: rows have different numbers of columns")
    if named is not None:
        if len(named) != table.shape[1]:
            raise ValueError(f"{path}: header names {len(named)} columns {named}, rows have {table.shape[1]}")
        roles = {}
        for i, tok in enumerate(named):
            if tok in _NAMED_COLUMNS:
                roles.setdefault(_NAMED_COLUMNS[tok], i)
        missing = [r for r in _CRDB_LAYOUT if r not in roles]
        if missing:
            raise ValueError(f"{path}: header columns {named} lack {missing}")
    else:
        if table.shape[1] != len(_CRDB_LAYOUT):
            raise ValueError(f"{path}: {table.shape[1]} columns without named header; expected the CRDB layout "
                             f"{_CRDB_LAYOUT}")
        roles = {r: i for i, r in enumerate(_CRDB_LAYOUT)}
    col = {r: table[:, i] for r, i in roles.items()}
    x, y = col["x"], col["y"]
    errs = {k: col[k] for k in ("stat_lo", "stat_hi", "sys_lo", "sys_hi")}
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"{path}: abscissa and flux must be positive")
    for k, v in errs.items():
        if np.any(v < 0):
            raise ValueError(f"{path}: negative {k} errors")
    order = np.argsort(x)
    E, J, jac = to_kinetic_energy(x, y, quantity, Z, mass_GeV)
    if "x_lo" in col and "x_hi" in col:
        E_lo = to_kinetic_energy(col["x_lo"], np.ones_like(x), quantity, Z, mass_GeV)[0]
        E_hi = to_kinetic_energy(col["x_hi"], np.ones_like(x), quantity, Z, mass_GeV)[0]
    else:
        E_lo = E_hi = np.full_like(x, np.nan)
    return CRData(experiment=label, E_GeV=E[order], J=J[order],
                  **{k: (v * jac)[order] for k, v in errs.items()},
                  E_lo_GeV=E_lo[order], E_hi_GeV=E_hi[order], x_quantity=quantity, x_raw=x[order],
                  reference=meta.get("ref", ""), path=str(path), mass_GeV=mass_GeV)


def table_paths(data_dir: str | Path | None = None) -> dict[str, Path]:
    """All proton tables: experiment label → path (sorted by label)."""
    folder = _data_dir(data_dir) / SUBDIR
    if not folder.is_dir():
        raise FileNotFoundError(f"no {SUBDIR}/ folder in the data directory {folder.parent}")
    out = {}
    for p in sorted(folder.glob("*_H_*.txt")):
        out[_label_and_quantity(p)[0]] = p
    return out


def list_experiments(data_dir: str | Path | None = None) -> list[str]:
    """Labels of all proton tables, e.g. ``['AMS-02-2015', 'AMS-02-2021', 'CALET', ...]``."""
    return list(table_paths(data_dir))


def resolve_experiment(name: str, data_dir: str | Path | None = None) -> str:
    """The label a name refers to: an exact label, or a prefix shared by exactly one label."""
    labels = list_experiments(data_dir)
    if name in labels:
        return name
    hits = [lb for lb in labels if lb.startswith(name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(f"unknown CR data set {name!r}; available: {', '.join(labels)}")
    raise ValueError(f"CR data set name {name!r} is ambiguous: matches {', '.join(hits)}")


def load_experiment(name: str, data_dir: str | Path | None = None, E_min_GeV: float | None = None,
                    E_max_GeV: float | None = None) -> CRData:
    """Read one experiment by label or unique prefix, optionally restricted to an energy window."""
    label = resolve_experiment(name, data_dir)
    data = read_table(table_paths(data_dir)[label])
    if E_min_GeV is not None or E_max_GeV is not None:
        data = data.select(E_min_GeV if E_min_GeV is not None else 0.0,
                           E_max_GeV if E_max_GeV is not None else math.inf)
    return data


def load_experiments(names: Iterable[str] | None = None, data_dir: str | Path | None = None,
                     E_min_GeV: float | None = None, E_max_GeV: float | None = None,
                     drop_empty: bool = True) -> dict[str, CRData]:
    """Several experiments (all tables when ``names`` is None) → {label: CRData}.

    With a window, experiments left without points are dropped (``drop_empty``) — e.g. IceTop lies
    above the default 3 PeV upper limit.
    """
    labels = list_experiments(data_dir) if names is None else [resolve_experiment(n, data_dir) for n in names]
    out = {}
    for label in labels:
        d = load_experiment(label, data_dir, E_min_GeV, E_max_GeV)
        if d.n or not drop_empty:
            out[label] = d
    return out
