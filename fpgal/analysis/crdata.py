"""Local CR flux measurements (``<data_dir>/cosmic_rays/*.txt``, proton and helium) on one footing.

The tables ship with fpgal (``fpgal/core/data/cosmic_rays``, format in ``docs/data.md``); every header
states the data set label (``dataset``), the ``species`` (``H``, ``He``), the abscissa and its units
and the flux units, so no file name is parsed. Each table is converted to a :class:`CRData`:
kinetic energy per particle ``E_GeV`` and the differential flux per unit kinetic energy per particle
``J`` in GeV⁻¹ m⁻² s⁻¹ sr⁻¹ (``J_per_cm2`` gives GeV⁻¹ cm⁻² s⁻¹ sr⁻¹, the unit of
``CRDensity.intensity``), with statistical and systematic errors (lower, upper) in the same unit.

Conversions (species of charge Z, mass number A and rest energy m — :data:`SPECIES`: protons Z = 1,
A = 1, m = m_p; helium-4 Z = 2, A = 4, m = 3.7274 GeV):

* rigidity R [GV]:  p c = Z R,  E = √(p² + m²) − m,  J_E = J_R dR/dE,  dR/dE = (E + m)/(Z p) = 1/(Z β);
* total energy per particle E_tot [GeV]:  E = E_tot − m,  J_E = J_tot (dE_tot/dE = 1);
* kinetic energy per nucleon E_n [GeV/n]:  E = A E_n,  J_E = J_n / A;
* kinetic energy per particle [GeV]: unchanged.

A differential flux at a point converts exactly with the Jacobian; bin edges (columns ``x_lo``,
``x_hi`` when a table has them, AMS-02 2015) are converted alongside. Table columns (by name):
``x flux stat_lo stat_hi sys_lo sys_hi`` and optionally ``x_lo x_hi tot_lo tot_hi``.

Error model used by the fit (:meth:`CRData.sigma`): statistical and systematic errors are added in
quadrature on each side, σ_lo = √(stat_lo² + sys_lo²), σ_hi = √(stat_hi² + sys_hi²); asymmetric
errors are symmetrized as (σ_lo + σ_hi)/2 (``errors="mean"``), or chosen by the side of the model
(``errors="side"``: σ_hi where the model lies above the point, σ_lo below). Systematic errors are
treated as uncorrelated between energy bins (the usual, optimistic-for-χ² simplification).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from ..core import units
from ..core.data import DataPath, TableFormatError, list_tables, read_header
from ..core.data import read_table as _read_fpgal_table
from ..model.species import M_HE4_GeV, SPECIES, Species  # noqa: F401  (re-exported: crdata.Species, crdata.SPECIES)
from ..model.species import species_info as _species_info

FLUX_UNITS = "GeV^-1 m^-2 s^-1 sr^-1"
FLUX_UNITS_CM2 = "GeV^-1 cm^-2 s^-1 sr^-1"
PER_M2_TO_PER_CM2 = 1.0e-4           # 1 m⁻² = 10⁻⁴ cm⁻²
SUBDIR = "cosmic_rays"

# abscissa (header key ``abscissa``) → (its units, units of the flux per unit of it)
ABSCISSAE = {
    "rigidity": ("GV", "GV^-1 m^-2 s^-1 sr^-1"),
    "kineticEnergy": ("GeV", "GeV^-1 m^-2 s^-1 sr^-1"),
    "kineticEnergyPerNucleon": ("GeV/n", "(GeV/n)^-1 m^-2 s^-1 sr^-1"),
    "totalEnergy": ("GeV", "GeV^-1 m^-2 s^-1 sr^-1"),
}
X_QUANTITIES = tuple(ABSCISSAE)
ERROR_MODELS = ("mean", "side", "max")
# table abscissa → energy variable of :class:`fpgal.species.Species`
_VARIABLE = {"rigidity": "rigidity", "kineticEnergy": "kinetic", "kineticEnergyPerNucleon": "kinetic_per_nucleon",
             "totalEnergy": "total"}

# the fit window of the reference study: 10 GeV up to around the knee
DEFAULT_E_MIN_GeV = 10.0
DEFAULT_E_MAX_GeV = 3.0e6

REQUIRED_COLUMNS = ("x", "flux", "stat_lo", "stat_hi", "sys_lo", "sys_hi")
OPTIONAL_COLUMNS = ("x_lo", "x_hi", "tot_lo", "tot_hi")
ERROR_COLUMNS = ("stat_lo", "stat_hi", "sys_lo", "sys_hi")




@dataclass(frozen=True, eq=False)
class CRData:
    """One experiment's flux of one species on a kinetic-energy-per-particle axis.

    Attributes
    ----------
    experiment : data set label (header key ``dataset``), e.g. ``"AMS-02-2021"``
    E_GeV : kinetic energy per particle [GeV], increasing
    J : differential flux per unit kinetic energy per particle [GeV⁻¹ m⁻² s⁻¹ sr⁻¹]
    stat_lo, stat_hi, sys_lo, sys_hi : errors of J (≥ 0), same unit
    E_lo_GeV, E_hi_GeV : bin edges in kinetic energy, NaN when the table has none
    x_quantity : abscissa of the original table (one of :data:`X_QUANTITIES`)
    x_raw : the original abscissa values [GV, GeV or GeV/n]
    reference, path : provenance (header key ``reference``, file)
    mass_GeV : rest energy of the species [GeV]
    species : ``"H"`` or ``"He"`` (:data:`SPECIES`)
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
    species: str = "H"

    @property
    def n(self) -> int:
        return int(self.E_GeV.size)

    def __len__(self) -> int:
        return self.n

    @property
    def J_per_cm2(self) -> np.ndarray:
        """Flux in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (the unit of ``CRDensity.intensity``)."""
        return self.J * PER_M2_TO_PER_CM2

    J_cm2 = J_per_cm2            # the earlier name, kept for user code

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
        return f"CRData({self.experiment!r}, {self.species}, n={self.n}, E={rng}, from {self.x_quantity})"


# ------------------------------------------------------------------------------------ conversions


def to_kinetic_energy(x, J, quantity: str, Z: int = 1, mass_GeV: float = units.m_p_GeV, A: int = 1):
    """Convert abscissa ``x`` and flux per unit x to (E_GeV, J per unit kinetic energy, Jacobian).

    E is the kinetic energy per particle [GeV]; the Jacobian multiplies J and its errors.
    rigidity [GV]: E = √((Z R)² + m²) − m, J_E = J_R · dR/dE with dR/dE = (E + m)/(Z p);
    totalEnergy [GeV per particle]: E = E_tot − m, Jacobian 1;
    kineticEnergyPerNucleon [GeV/n]: E = A E_n, Jacobian 1/A; kineticEnergy [GeV]: unchanged.
    """
    if quantity not in _VARIABLE:
        raise ValueError(f"abscissa quantity {quantity!r}; expected one of {X_QUANTITIES}")
    if isinstance(A, bool) or not isinstance(A, (int, np.integer)) or A < 1:
        raise ValueError(f"mass number A={A!r}; expected an integer ≥ 1")
    x = np.asarray(x, dtype=float)
    J = np.asarray(J, dtype=float)
    if quantity == "totalEnergy" and np.any(x <= mass_GeV):
        raise ValueError(f"total energies {x[x <= mass_GeV].tolist()} GeV do not exceed the rest energy "
                         f"{mass_GeV} GeV")
    sp = Species("table", int(abs(Z)), int(A), float(mass_GeV))
    E = sp.to_kinetic(x, _VARIABLE[quantity])
    jac = sp.jacobian(E, _VARIABLE[quantity])
    return E, J * jac, jac


# ------------------------------------------------------------------------------------ reading


def species_info(symbol: str) -> Species:
    """Z, A and rest energy of a species symbol of :data:`SPECIES` (``"H"``, ``"He"``; :mod:`fpgal.species`)."""
    return _species_info(symbol)


def _check_header(meta: dict[str, str], where: str) -> tuple[Species, str]:
    """Species and abscissa of a cosmic-ray table; its quantity and units must be the documented ones."""
    try:
        species = species_info(meta["species"])
    except ValueError as exc:
        raise TableFormatError(f"{where}: {exc}") from None
    quantity = meta["abscissa"]
    if quantity not in ABSCISSAE:
        raise TableFormatError(f"{where}: abscissa {quantity!r}; expected one of {X_QUANTITIES}")
    x_units, flux_units = ABSCISSAE[quantity]
    for key, got, want in (("quantity", meta["quantity"], "flux"), ("abscissa_units", meta["abscissa_units"], x_units),
                           ("quantity_units", meta["quantity_units"], flux_units)):
        if got != want:
            raise TableFormatError(f"{where}: {key} {got!r}; expected {want!r} for abscissa {quantity!r}")
    return species, quantity


def _columns(table, where: str) -> dict[str, np.ndarray]:
    names = table.columns
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unknown = [c for c in names if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        raise TableFormatError(f"{where}: columns {list(names)} lack {missing} / have unknown {unknown}; expected "
                               f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}")
    return {c: table.column(c) for c in names}


def read_table(path: DataPath) -> CRData:
    """Read one ``cosmic_rays/*.txt`` table (fpgal table format) and convert it to kinetic energy per particle.

    Species, abscissa and units come from the header (module docstring: conversions).
    """
    table = _read_fpgal_table(path)
    where = table.path
    species, quantity = _check_header(table.meta, where)
    col = _columns(table, where)
    x, y = col["x"], col["flux"]
    if np.any(x <= 0) or np.any(y <= 0):
        bad = np.flatnonzero((x <= 0) | (y <= 0))
        raise TableFormatError(f"{where}: x and flux must be positive; rows {bad.tolist()} are not")
    for k in ERROR_COLUMNS:
        if np.any(col[k] < 0):
            raise TableFormatError(f"{where}: negative {k} errors {col[k][col[k] < 0].tolist()}; errors are ≥ 0")
    order = np.argsort(x, kind="stable")
    E, J, jac = to_kinetic_energy(x, y, quantity, species.Z, species.mass_GeV, species.A)
    if "x_lo" in col and "x_hi" in col:
        E_lo = to_kinetic_energy(col["x_lo"], np.ones_like(x), quantity, species.Z, species.mass_GeV, species.A)[0]
        E_hi = to_kinetic_energy(col["x_hi"], np.ones_like(x), quantity, species.Z, species.mass_GeV, species.A)[0]
    else:
        E_lo = E_hi = np.full_like(x, np.nan)
    return CRData(experiment=table.meta["dataset"], E_GeV=E[order], J=J[order],
                  **{k: (col[k] * jac)[order] for k in ERROR_COLUMNS},
                  E_lo_GeV=E_lo[order], E_hi_GeV=E_hi[order], x_quantity=quantity, x_raw=x[order],
                  reference=table.meta["reference"], path=where, mass_GeV=species.mass_GeV,
                  species=species.symbol)


def table_paths(data_dir: str | os.PathLike | None = None, species: str = "H") -> dict[str, DataPath]:
    """All tables of one species: data set label (header key ``dataset``) → path, sorted by label."""
    species = species_info(species).symbol
    out: dict[str, DataPath] = {}
    for path in list_tables(SUBDIR, data_dir):
        meta = read_header(path)
        if meta["species"] != species:
            continue
        label = meta["dataset"]
        if label in out:
            raise TableFormatError(f"{path}: data set {label!r} ({species}) is also defined in {out[label]}")
        out[label] = path
    return dict(sorted(out.items()))


def list_experiments(data_dir: str | os.PathLike | None = None, species: str = "H") -> list[str]:
    """Labels of all tables of a species, e.g. ``['AMS-02-2015', 'AMS-02-2021', 'CALET', ...]`` for ``"H"``."""
    return list(table_paths(data_dir, species))


def _resolve(name: str, labels: Sequence[str], species: str) -> str:
    if name in labels:
        return name
    hits = [lb for lb in labels if lb.startswith(name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(f"unknown CR data set {name!r} ({species}); available: {', '.join(labels)}")
    raise ValueError(f"CR data set name {name!r} ({species}) is ambiguous: matches {', '.join(hits)}")


def resolve_experiment(name: str, data_dir: str | os.PathLike | None = None, species: str = "H") -> str:
    """The label a name refers to: an exact label, or a prefix shared by exactly one label."""
    return _resolve(name, list_experiments(data_dir, species), species)


def _load(path: DataPath, E_min_GeV: float | None, E_max_GeV: float | None) -> CRData:
    data = read_table(path)
    if E_min_GeV is not None or E_max_GeV is not None:
        data = data.select(E_min_GeV if E_min_GeV is not None else 0.0,
                           E_max_GeV if E_max_GeV is not None else math.inf)
    return data


def load_experiment(name: str, data_dir: str | os.PathLike | None = None, E_min_GeV: float | None = None,
                    E_max_GeV: float | None = None, species: str = "H") -> CRData:
    """Read one data set by label or unique prefix, optionally restricted to a kinetic-energy window [GeV]."""
    paths = table_paths(data_dir, species)
    return _load(paths[_resolve(name, list(paths), species)], E_min_GeV, E_max_GeV)


def load_experiments(names: Iterable[str] | None = None, data_dir: str | os.PathLike | None = None,
                     E_min_GeV: float | None = None, E_max_GeV: float | None = None,
                     drop_empty: bool = True, species: str = "H") -> dict[str, CRData]:
    """Several data sets of one species (all when ``names`` is None) → {label: CRData}.

    With a window, data sets left without points are dropped (``drop_empty``) — e.g. IceTop lies
    above the default 3 PeV upper limit.
    """
    paths = table_paths(data_dir, species)
    labels = list(paths) if names is None else [_resolve(n, list(paths), species) for n in names]
    out = {}
    for label in labels:
        d = _load(paths[label], E_min_GeV, E_max_GeV)
        if d.n or not drop_empty:
            out[label] = d
    return out
