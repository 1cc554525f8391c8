"""Fit of the injection spectrum Q(p) (Dörner et al. ICRC2025, eq. 2) to the local proton flux.

Reweighting instead of re-solving
---------------------------------
The steady transport equation is linear in its source. When different energies do not talk to each
other (diffusion, advection, catastrophic losses — no continuous energy losses or reacceleration),
each energy is an independent linear problem, so the density at the Sun for a source
``q(E, x) = Q_E(E) s(x)`` is

    n_loc(E) = Q_E(E) · G_loc(E),      G_loc(E) = n_loc,ref(E) / S_ref(E),

where ``n_loc,ref`` comes from one solve with a reference spectrum ``S_ref`` (:func:`local_basis`).
The model flux at a data energy is then

    J(E; θ) = β(E) c/(4π) · Q_E(E; θ) · G_loc(E)          [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹]

with G_loc interpolated between the grid energies as a cubic spline in (ln E, ln G_loc) — G_loc is
smooth even when the spectra have sharp features, which is why the ratio is interpolated, not
n_loc. No solve is repeated during the fit; the fitted density is ``cr.scaled(rescale_factor(E))``.
If ``cr.meta["energy_coupled"]`` is true (continuous losses, reacceleration) the reweighting is only
an approximation; the result says so (``FitResult.exact``, ``notes``).

χ² and errors
-------------
χ² = Σ_i (J(E_i; θ) − J_i)² / σ_i² over all points of all experiments in the window, σ_i from
:meth:`fpgal.analysis.crdata.CRData.sigma` (stat ⊕ sys, symmetrized). Minimized with
``scipy.optimize.least_squares`` (trust-region reflective, bounds) in the variables ln Q0, ln p_br,
α1, α2, ln w (positive parameters in log); with symmetric errors Q0 (linear) is first profiled out
and the shape minimised alone, then all parameters are refined from there. The covariance is
(JᵀJ)⁻¹ of the residual Jacobian at the minimum (pseudo-inverse for degenerate directions),
multiplied by χ²/dof when that exceeds 1 (``scale_errors=True``, the PDG scale factor); errors of
log variables propagate as σ_θ = θ σ_lnθ.

Optional force-field solar modulation (Gleeson & Axford 1968) with a fixed potential φ:
J_TOA(E) = J_LIS(E + Φ) E(E + 2m) / ((E + Φ)(E + Φ + 2m)), Φ = |Z| e φ (protons: Φ[GeV] = φ[GV]).
The default φ = 0 compares the interstellar model directly with the data; note that for φ = 0.6 GV the
modulation lowers the flux by ≈ 24 % at 10 GeV and ≈ 3 % at 100 GeV (J ∝ E^−2.8), falling as ~1/E.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..core import units
from ..core.checks import renamed_keywords
from ..core.log import get_logger
from ..model.spectra import SmoothBrokenPowerLaw, intensity_per_density, momentum_GeV
from .crdata import DEFAULT_E_MAX_GeV, DEFAULT_E_MIN_GeV, FLUX_UNITS, PER_M2_TO_PER_CM2, CRData

log = get_logger(__name__)

LOG_PARAMETERS = ("Q0", "p_br_GeV", "w", "E_cut_GeV", "p_knee_GeV", "w_knee")
DEFAULT_FREE = ("Q0", "p_br_GeV", "alpha1", "alpha2", "w")
# bounds of the fit variables (log-parameters: bounds of the parameter itself)
BOUNDS = {"Q0": (0.0, math.inf), "p_br_GeV": (1.0, 1.0e8), "w": (1.0e-3, 5.0), "alpha1": (-8.0, 0.0),
          "alpha2": (-8.0, 0.0), "alpha3": (-8.0, 0.0), "E_cut_GeV": (1.0e2, 1.0e10),
          "p_knee_GeV": (1.0e2, 1.0e10), "w_knee": (1.0e-3, 5.0)}
_NEEDS = {"E_cut_GeV": "E_cut_GeV", "p_knee_GeV": "p_knee_GeV", "alpha3": "p_knee_GeV", "w_knee": "p_knee_GeV"}


# ------------------------------------------------------------------------------------ basis


@dataclass(frozen=True, eq=False)
class LocalBasis:
    """G_loc(E) = n_loc,ref(E)/S_ref(E) at the grid energies and its smooth interpolation.

    ``G`` has the unit (GeV⁻¹ cm⁻³) / (unit of S_ref): a spectrum Q_E in the unit of S_ref gives
    n_loc = Q_E G_loc in GeV⁻¹ cm⁻³.
    """

    E_GeV: np.ndarray
    G: np.ndarray
    mass_GeV: float = units.m_p_GeV
    exact: bool = True
    Z: int = 1                     # charge number: force-field Φ = Z φ, rigidity R = p/Z

    def __post_init__(self) -> None:
        E = np.asarray(self.E_GeV, dtype=float)
        G = np.asarray(self.G, dtype=float)
        if E.ndim != 1 or E.shape != G.shape or E.size < 2:
            raise ValueError(f"LocalBasis: E_GeV {E.shape} and G {G.shape} must be 1-D of equal length >= 2")
        bad = ~(np.isfinite(G) & (G > 0))
        if np.any(bad):
            raise ValueError(f"LocalBasis: G_loc must be positive and finite at every grid energy; it is not at "
                             f"E_GeV = {E[bad].tolist()} (empty local sphere, or a zero reference spectrum there?)")
        object.__setattr__(self, "E_GeV", E)
        object.__setattr__(self, "G", G)
        lnE, lnG = np.log(E), np.log(G)
        if E.size >= 4:
            from scipy.interpolate import CubicSpline
            spline = CubicSpline(lnE, lnG, bc_type="not-a-knot", extrapolate=False)
        else:
            def spline(x):
                return np.interp(x, lnE, lnG)
        object.__setattr__(self, "_spline", spline)

    @property
    def E_range_GeV(self) -> tuple[float, float]:
        return float(self.E_GeV[0]), float(self.E_GeV[-1])

    def __call__(self, E_GeV) -> np.ndarray:
        """G_loc at kinetic energies inside the grid range (cubic spline in ln E – ln G)."""
        E = np.asarray(E_GeV, dtype=float)
        lo, hi = self.E_range_GeV
        if np.any(E < lo * (1 - 1e-12)) or np.any(E > hi * (1 + 1e-12)):
            raise ValueError(f"LocalBasis: energies outside the grid range [{lo:.4g}, {hi:.4g}] GeV requested")
        return np.exp(self._spline(np.log(np.clip(E, lo, hi))))

    def flux_cm2(self, spectrum: Callable, E_GeV, phi_GV: float = 0.0, Z: int | None = None) -> np.ndarray:
        """Model intensity J = β c/(4π) Q_E(E) G_loc(E) in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (force field if φ > 0,
        Φ = |Z| φ with the basis' charge number unless ``Z`` is given)."""
        E = np.asarray(E_GeV, dtype=float)
        Phi = abs(self.Z if Z is None else Z) * float(phi_GV)
        Es = E + Phi
        J_lis = intensity_per_density(Es, self.mass_GeV) * spectrum(Es) * self(Es)
        if Phi == 0.0:
            return J_lis
        m = self.mass_GeV
        return J_lis * E * (E + 2 * m) / (Es * (Es + 2 * m))


@renamed_keywords(center_kpc="sun_kpc")
def local_basis(cr, spectrum_ref: Callable, sun_kpc: Sequence[float] = units.sun_position_kpc,
                radius_kpc: float = 0.1) -> LocalBasis:
    """G_loc(E) = n_loc(E)/S_ref(E) from a CRDensity solved with the source spectrum ``spectrum_ref``.

    ``n_loc`` is ``cr.local_spectrum(sun_kpc, radius_kpc)`` (GeV⁻¹ cm⁻³): the sphere around the Sun,
    where the data are measured (``center_kpc`` is the deprecated old name of ``sun_kpc``). ``exact`` is
    False when ``cr.meta["energy_coupled"]`` is true.
    """
    n_loc = cr.local_spectrum(center_kpc=sun_kpc, radius_kpc=radius_kpc)
    S = np.asarray(spectrum_ref(cr.E_GeV), dtype=float)
    if np.any(~np.isfinite(S) | (S <= 0)):
        raise ValueError(f"local_basis: the reference spectrum is not positive at E_GeV = "
                         f"{cr.E_GeV[~np.isfinite(S) | (S <= 0)].tolist()}")
    exact = not bool(cr.meta.get("energy_coupled", False))
    return LocalBasis(np.asarray(cr.E_GeV, dtype=float), n_loc / S, cr.mass_GeV, exact, _charge_of(cr.mass_GeV))


def _charge_of(mass_GeV: float) -> int:
    """Z of the species in :data:`fpgal.species.SPECIES` with this rest energy (1 when none matches)."""
    from ..model.species import SPECIES
    hits = [sp.Z for sp in SPECIES.values() if abs(sp.mass_GeV - mass_GeV) <= 1e-6 * sp.mass_GeV]
    return hits[0] if hits else 1


# ------------------------------------------------------------------------------------ result


@dataclass(eq=False)
class FitResult:
    """Outcome of :func:`fit_injection`.

    ``values``/``errors`` hold the free parameters (names of :class:`SmoothBrokenPowerLaw` fields);
    ``spectrum`` is the fitted spectrum (fixed parameters kept from the start model);
    ``covariance`` is in the fit variables ``fit_variables`` (``ln_Q0``, ``ln_p_br_GeV``, ``alpha1``…).
    """

    spectrum: SmoothBrokenPowerLaw
    spectrum_ref: Callable | None
    basis: LocalBasis
    values: dict[str, float]
    errors: dict[str, float]
    fit_variables: tuple[str, ...]
    covariance: np.ndarray
    chi2: float
    dof: int
    chi2_by_experiment: dict[str, dict[str, float]]
    n_points: int
    E_min_GeV: float
    E_max_GeV: float
    phi_GV: float = 0.0
    error_model: str = "mean"
    exact: bool = True
    success: bool = True
    message: str = ""
    nfev: int = 0
    notes: list[str] = field(default_factory=list)
    at_bound: list[str] = field(default_factory=list)  # fitted parameters that ended on a bound

    @property
    def chi2_per_dof(self) -> float:
        return self.chi2 / self.dof

    @property
    def p_value(self) -> float:
        """P(χ² ≥ observed) for ``dof`` degrees of freedom."""
        from scipy.stats import chi2 as _chi2
        return float(_chi2.sf(self.chi2, self.dof))

    def rescale_factor(self, E_GeV) -> np.ndarray:
        """Q_fit(E)/S_ref(E): multiply the reference solution by this (``cr.scaled(...)``)."""
        if self.spectrum_ref is None:
            raise ValueError("FitResult.rescale_factor: the fit was made without spectrum_ref (the spectrum of the "
                             "reference solution); pass spectrum_ref to fit_local_flux")
        E = np.asarray(E_GeV, dtype=float)
        return np.asarray(self.spectrum(E), dtype=float) / np.asarray(self.spectrum_ref(E), dtype=float)

    def model_flux(self, E_GeV, phi_GV: float | None = None) -> np.ndarray:
        """Fitted model flux in GeV⁻¹ m⁻² s⁻¹ sr⁻¹ (the data's unit) at kinetic energies in the grid range."""
        phi = self.phi_GV if phi_GV is None else phi_GV
        return self.basis.flux_cm2(self.spectrum, E_GeV, phi) / PER_M2_TO_PER_CM2

    def model_band(self, E_GeV, n_samples: int = 300, seed: int = 1, quantiles=(0.16, 0.84)) -> tuple[np.ndarray, np.ndarray]:
        """1σ band of the model flux [GeV⁻¹ m⁻² s⁻¹ sr⁻¹]: quantiles over parameter sets drawn from
        N(θ̂, covariance) in the fit variables (ln of the positive parameters). Parameters with an
        infinite error and those at a bound (``at_bound``: their errors are not meaningful) are held at
        the best fit."""
        x0 = np.array([math.log(self.values[p]) if p in LOG_PARAMETERS else self.values[p] for p in self.values])
        full = np.where(np.isfinite(self.covariance), self.covariance, 0.0)
        held = np.array([not math.isfinite(self.errors[p]) or p in self.at_bound for p in self.values])
        o, h = ~held, held
        # the others conditioned on the held ones: Σ_oo − Σ_oh Σ_hh⁺ Σ_ho
        cond = full[np.ix_(o, o)] - full[np.ix_(o, h)] @ np.linalg.pinv(full[np.ix_(h, h)]) @ full[np.ix_(h, o)]
        cov = np.zeros_like(full)
        cov[np.ix_(o, o)] = 0.5 * (cond + cond.T)
        draws = np.random.default_rng(seed).multivariate_normal(x0, cov, size=int(n_samples), method="eigh")
        fluxes = []
        for x in draws:
            params = {p: (math.exp(v) if p in LOG_PARAMETERS else v) for p, v in zip(self.values, x)}
            params = {p: (min(v, 0.0) if p.startswith("alpha") else v) for p, v in params.items()}
            fluxes.append(self.basis.flux_cm2(self.spectrum.replace(**params), E_GeV, self.phi_GV))
        lo, hi = np.quantile(np.array(fluxes), quantiles, axis=0)
        return lo / PER_M2_TO_PER_CM2, hi / PER_M2_TO_PER_CM2

    def summary(self) -> str:
        lines = [f"χ²/dof = {self.chi2:.2f}/{self.dof} = {self.chi2_per_dof:.3f} ({self.n_points} points, "
                 f"{self.E_min_GeV:.3g}–{self.E_max_GeV:.3g} GeV)"]
        for k, v in self.values.items():
            lines.append(f"  {k:10s} = {v:.6g} ± {self.errors[k]:.3g}")
        for k, c in self.chi2_by_experiment.items():
            lines.append(f"  χ²[{k}] = {c['chi2']:.2f} ({int(c['n'])} points)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary (for the run summary and HDF5 attributes)."""
        return {
            "spectrum": self.spectrum.to_dict(),
            "values": dict(self.values),
            "errors": {k: (v if math.isfinite(v) else None) for k, v in self.errors.items()},
            "fit_variables": list(self.fit_variables), "covariance": np.where(np.isfinite(self.covariance), self.covariance, np.nan).tolist(),
            "chi2": float(self.chi2), "dof": int(self.dof), "chi2_per_dof": float(self.chi2_per_dof),
            "chi2_by_experiment": {k: dict(v) for k, v in self.chi2_by_experiment.items()},
            "n_points": int(self.n_points), "E_min_GeV": float(self.E_min_GeV), "E_max_GeV": float(self.E_max_GeV),
            "phi_GV": float(self.phi_GV), "error_model": self.error_model, "exact": bool(self.exact),
            "success": bool(self.success), "message": self.message, "nfev": int(self.nfev),
            "at_bound": list(self.at_bound),
            "Z": int(self.basis.Z), "mass_GeV": float(self.basis.mass_GeV),
            "R_br_GV": float(self.spectrum.p_br_GeV / self.basis.Z),
            "R_knee_GV": float(self.spectrum.p_knee_GeV / self.basis.Z),
            "notes": list(self.notes), "flux_units": FLUX_UNITS,
        }

    def write_h5(self, group) -> None:
        """Store in an open HDF5 group: G_loc and the fitted spectrum on the grid, parameters as attributes."""
        import json

        from ..core.files import write_dataset
        write_dataset(group, "E", self.basis.E_GeV, "GeV", "grid kinetic energies")
        write_dataset(group, "G_loc", self.basis.G, "GeV^-1 cm^-3 per unit of the reference spectrum",
                      "local density per unit reference source spectrum, n_loc/S_ref")
        write_dataset(group, "Q_fit", self.spectrum(self.basis.E_GeV), "unit of the reference spectrum",
                      "fitted injection spectrum per unit kinetic energy at E")
        write_dataset(group, "rescale_factor", self.rescale_factor(self.basis.E_GeV), "1", "Q_fit/S_ref")
        write_dataset(group, "covariance", self.covariance, "1", "covariance of " + ", ".join(self.fit_variables))
        for key, value in self.values.items():
            group.attrs[key] = value
            group.attrs[f"{key}_err"] = self.errors[key]
        group.attrs["chi2"] = self.chi2
        group.attrs["dof"] = self.dof
        group.attrs["exact"] = self.exact
        group.attrs["summary_json"] = json.dumps(self.to_dict())


# ------------------------------------------------------------------------------------ fit


def _as_list(data: Mapping[str, CRData] | Iterable[CRData] | CRData) -> list[CRData]:
    if isinstance(data, CRData):
        return [data]
    if isinstance(data, Mapping):
        return list(data.values())
    return list(data)


@dataclass(frozen=True)
class _FitPoints:
    """The data points of a fit: energies, fluxes and asymmetric total errors in cm⁻² units."""

    sets: list
    E: np.ndarray
    J: np.ndarray
    owner: np.ndarray
    sig_lo: np.ndarray
    sig_hi: np.ndarray
    sigma_fixed: np.ndarray | None

    def sigma(self, model: np.ndarray) -> np.ndarray:
        """σ per point: the fixed error model, or the side of the data point the model lies on."""
        if self.sigma_fixed is not None:
            return self.sigma_fixed
        return np.where(model >= self.J, self.sig_hi, self.sig_lo)


def _check_fit_request(initial, free: tuple, errors: str, E_min_GeV: float, E_max_GeV: float) -> None:
    if not isinstance(initial, SmoothBrokenPowerLaw):
        raise ValueError(f"fit_local_flux: initial must be a SmoothBrokenPowerLaw, got {type(initial).__name__}")
    unknown = [p for p in free if p not in BOUNDS]
    if unknown or not free:
        raise ValueError(f"fit: free parameters {list(free)}; each must be one of {sorted(BOUNDS)}")
    for p in free:
        if p in _NEEDS and getattr(initial, _NEEDS[p]) <= 0:
            raise ValueError(f"fit: cannot fit {p!r} while {_NEEDS[p]} = 0 (feature off) in the start model")
    if errors not in ("mean", "side", "max"):
        raise ValueError(f"fit: errors={errors!r}; expected 'mean', 'side' or 'max'")
    if not (E_min_GeV < E_max_GeV):
        raise ValueError(f"fit: E_min_GeV={E_min_GeV} must be < E_max_GeV={E_max_GeV}")


def _select_points(basis: LocalBasis, data, E_min_GeV: float, E_max_GeV: float, Phi: float, errors: str,
                   n_free: int, notes: list) -> _FitPoints:
    """Step 1, selection: the points in the window whose (modulated) energies lie inside the grid."""
    lo, hi = basis.E_range_GeV
    sets = []
    for d in _as_list(data):
        w = d.select(E_min_GeV, E_max_GeV)
        inside = (w.E_GeV >= lo) & (w.E_GeV + abs(basis.Z) * Phi <= hi)
        if not np.all(inside):
            msg = (f"{d.experiment}: {int((~inside).sum())} point(s) in the fit window lie outside the grid "
                   f"energies [{lo:.4g}, {hi:.4g}] GeV and are left out")
            log.warning(msg)
            notes.append(msg)
            w = w.take(inside)
        if w.n:
            sets.append(w)
    if not sets:
        raise ValueError(f"fit: no data points in [{E_min_GeV:.4g}, {E_max_GeV:.4g}] GeV inside the grid range")
    E = np.concatenate([s.E_GeV for s in sets])
    owner = np.concatenate([np.full(s.n, k) for k, s in enumerate(sets)])
    sig_lo = np.concatenate([s.total_lo for s in sets]) * PER_M2_TO_PER_CM2
    sig_hi = np.concatenate([s.total_hi for s in sets]) * PER_M2_TO_PER_CM2
    bad = ~(np.isfinite(sig_lo) & np.isfinite(sig_hi) & (sig_lo > 0) & (sig_hi > 0))
    if np.any(bad):
        which = sorted({sets[k].experiment for k in owner[bad]})
        raise ValueError(f"fit: zero or invalid total errors at E_GeV = {E[bad].tolist()} ({', '.join(which)})")
    if E.size - n_free <= 0:
        raise ValueError(f"fit: {E.size} data points for {n_free} free parameters; need more points than parameters")
    sigma_fixed = {"mean": 0.5 * (sig_lo + sig_hi), "max": np.maximum(sig_lo, sig_hi)}.get(errors)
    return _FitPoints(sets, E, np.concatenate([s.J_per_cm2 for s in sets]), owner, sig_lo, sig_hi, sigma_fixed)


class _Parameterisation:
    """Step 2: the free parameters as fit variables (logarithms for LOG_PARAMETERS), their bounds and start."""

    def __init__(self, initial: SmoothBrokenPowerLaw, free: tuple, E_GeV: np.ndarray,
                 bounds: Mapping[str, tuple[float, float]] | None):
        self.initial, self.free = initial, free
        self.names = tuple(("ln_" + p) if p in LOG_PARAMETERS else p for p in free)
        limits = dict(BOUNDS)
        # a break (and its smoothness) is only constrained inside the data: keep p_br within the points' range
        p_data = momentum_GeV(E_GeV, initial.mass_GeV)
        limits["p_br_GeV"] = (max(BOUNDS["p_br_GeV"][0], 0.5 * p_data.min()),
                              min(BOUNDS["p_br_GeV"][1], 2.0 * p_data.max()))
        for p, (a, b) in dict(bounds or {}).items():
            if p not in BOUNDS or not a < b:
                raise ValueError(f"fit: bounds[{p!r}] = {(a, b)}; expected a parameter of {sorted(BOUNDS)} and lo < hi")
            limits[p] = (float(a), float(b))
        self.limits = limits
        self.lb = np.array([self.to_var(p, limits[p][0]) if not (p in LOG_PARAMETERS and limits[p][0] <= 0)
                            else -np.inf for p in free])
        self.ub = np.array([self.to_var(p, limits[p][1]) if np.isfinite(limits[p][1]) else np.inf for p in free])
        self.span = np.where(np.isfinite(self.ub - self.lb), self.ub - self.lb, 1.0)

    @staticmethod
    def to_var(p: str, v: float) -> float:
        return math.log(v) if p in LOG_PARAMETERS else v

    @staticmethod
    def from_var(p: str, x: float) -> float:
        return math.exp(x) if p in LOG_PARAMETERS else x

    def spectrum_of(self, x: np.ndarray) -> SmoothBrokenPowerLaw:
        return self.initial.replace(**{p: self.from_var(p, xi) for p, xi in zip(self.free, x)})

    def start(self, start: SmoothBrokenPowerLaw) -> np.ndarray:
        x0 = np.array([self.to_var(p, getattr(start, p)) for p in self.free])
        return np.clip(x0, self.lb + 1e-6 * self.span, self.ub - 1e-6 * self.span)


def _best_normalisation_start(basis: LocalBasis, initial, pts: _FitPoints, Phi: float, free: tuple):
    """The initial shape with its best normalization (the model is linear in Q0)."""
    if "Q0" not in free:
        return initial
    m0 = basis.flux_cm2(initial, pts.E, Phi)
    s0 = pts.sigma(m0)
    scale = np.sum(m0 * pts.J / s0 ** 2) / np.sum(m0 ** 2 / s0 ** 2)
    return initial.replace(Q0=initial.Q0 * scale) if math.isfinite(scale) and scale > 0 else initial


def _minimise(residuals: Callable, par: _Parameterisation, x0: np.ndarray, pts: _FitPoints, basis: LocalBasis,
              Phi: float):
    """Step 3: least squares, after profiling Q0 out when the errors do not depend on the model.

    Q0 enters linearly, so with fixed σ it is profiled out (variable projection) and the shape parameters
    are minimised alone first: Q0 is the normalisation at p_br, so in the full parameterisation ln Q0 and
    ln p_br form a long curved valley in which the trust-region steps crawl (10⁴ evaluations without
    converging on the default study). Returns scipy's result and the evaluations of the profiled stage.
    """
    from scipy.optimize import least_squares
    free, lb, ub = par.free, par.lb, par.ub
    nfev_profiled = 0
    if "Q0" in free and pts.sigma_fixed is not None and len(free) > 1:
        iq = free.index("Q0")
        shape_idx = [i for i in range(len(free)) if i != iq]

        def full_x(xs: np.ndarray) -> np.ndarray:
            x = np.empty(len(free))
            x[shape_idx] = xs
            x[iq] = 0.0  # ln Q0 = 0: unit normalisation
            m = basis.flux_cm2(par.spectrum_of(x), pts.E, Phi)
            w2 = 1.0 / pts.sigma_fixed ** 2
            den = float(np.sum(m * m * w2))
            q = float(np.sum(m * pts.J * w2)) / den if den > 0 else 0.0
            x[iq] = math.log(q) if q > 0 else lb[iq] if np.isfinite(lb[iq]) else -700.0
            return x

        res_shape = least_squares(lambda xs: residuals(full_x(xs)), x0[shape_idx],
                                  bounds=(lb[shape_idx], ub[shape_idx]), method="trf", x_scale="jac",
                                  xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=2000 * len(shape_idx))
        nfev_profiled = int(res_shape.nfev)
        x0 = np.clip(full_x(res_shape.x), lb + 1e-12 * par.span, ub - 1e-12 * par.span)
    res = least_squares(residuals, x0, bounds=(lb, ub), method="trf", x_scale="jac",
                        xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=2000 * len(free))
    return res, nfev_profiled


def _covariance(jac: np.ndarray, chi2: float, dof: int, free: tuple, scale_errors: bool,
                notes: list) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: (JᵀJ)⁻¹ by SVD at the minimum, scaled by χ²/dof > 1 (PDG); unconstrained directions."""
    _, s, Vt = np.linalg.svd(jac, full_matrices=False)
    tiny = np.finfo(float).eps * max(jac.shape) * (s[0] if s.size else 0.0)
    inv = np.where(s > tiny, 1.0 / np.where(s > tiny, s, 1.0) ** 2, 0.0)
    cov = (Vt.T * inv) @ Vt
    unconstrained = np.zeros(len(free), dtype=bool)
    if np.any(s <= tiny):
        # directions the data do not constrain at all: infinite variance for the parameters in them
        unconstrained = np.any(np.abs(Vt[s <= tiny]) > 1e-6, axis=0)
        notes.append("the Jacobian is singular: " + ", ".join(p for p, u in zip(free, unconstrained) if u)
                     + " unconstrained by the data (error set to inf)")
    red = chi2 / dof
    if scale_errors and red > 1:
        cov = cov * red
        notes.append(f"errors scaled by sqrt(χ²/dof) = {math.sqrt(red):.3f}")
    return cov, unconstrained


def _parameter_table(fitted, par: _Parameterisation, cov: np.ndarray, unconstrained: np.ndarray,
                     active_mask: np.ndarray, notes: list) -> tuple[dict, dict, list]:
    """Values and 1σ errors in each parameter's own units (σ_θ = θ σ_lnθ for log variables); bounds hit."""
    values, errs, at_bound = {}, {}, []
    for i, p in enumerate(par.free):
        v = getattr(fitted, p)
        sd = math.inf if unconstrained[i] else math.sqrt(max(cov[i, i], 0.0))
        values[p] = float(v)
        errs[p] = float(v * sd) if p in LOG_PARAMETERS else float(sd)
        if active_mask[i] != 0:
            at_bound.append(p)
            notes.append(f"{p} = {v:.4g} sits at its bound ({par.limits[p][0]:.4g}, {par.limits[p][1]:.4g}); "
                         "its error is not meaningful")
    return values, errs, at_bound


def _chi2_by_experiment(pts: _FitPoints, r: np.ndarray) -> dict[str, dict[str, float]]:
    by_exp: dict[str, dict[str, float]] = {}
    for k, s_ in enumerate(pts.sets):
        rk = r[pts.owner == k]
        key = s_.experiment if s_.experiment not in by_exp else f"{s_.experiment}#{k}"
        by_exp[key] = {"chi2": float(rk @ rk), "n": int(rk.size)}
    return by_exp


def fit_local_flux(basis: LocalBasis, data: Mapping[str, CRData] | Iterable[CRData] | CRData,
                   initial: SmoothBrokenPowerLaw, *, spectrum_ref: Callable | None = None,
                   free: Sequence[str] = DEFAULT_FREE, E_min_GeV: float = DEFAULT_E_MIN_GeV,
                   E_max_GeV: float = DEFAULT_E_MAX_GeV, errors: str = "mean", phi_GV: float = 0.0,
                   scale_errors: bool = True, bounds: Mapping[str, tuple[float, float]] | None = None) -> FitResult:
    """χ² fit of ``initial``'s free parameters to the data, given the local basis G_loc(E).

    Points outside [E_min_GeV, E_max_GeV] and outside the grid's energy range are left out (the latter
    with a warning). See the module docstring for the model and the error treatment. ``bounds``
    overrides the parameter ranges of ``BOUNDS`` ({name: (lo, hi)} in the parameter's own units); by
    default p_br is kept within [p_min/2, 2 p_max] of the selected points. Steps: selection
    (:func:`_select_points`), parameterisation (:class:`_Parameterisation`), minimisation with Q0
    profiled (:func:`_minimise`), covariance (:func:`_covariance`).
    """
    free = tuple(free)
    _check_fit_request(initial, free, errors, E_min_GeV, E_max_GeV)
    Phi, notes = float(phi_GV), []
    pts = _select_points(basis, data, E_min_GeV, E_max_GeV, Phi, errors, len(free), notes)
    dof = pts.E.size - len(free)
    par = _Parameterisation(initial, free, pts.E, bounds)

    def residuals(x: np.ndarray) -> np.ndarray:
        model = basis.flux_cm2(par.spectrum_of(x), pts.E, Phi)
        return (model - pts.J) / pts.sigma(model)

    x0 = par.start(_best_normalisation_start(basis, initial, pts, Phi, free))
    res, nfev_profiled = _minimise(residuals, par, x0, pts, basis, Phi)
    r = res.fun
    chi2 = float(r @ r)
    cov, unconstrained = _covariance(res.jac, chi2, dof, free, scale_errors, notes)
    fitted = par.spectrum_of(res.x)
    values, errs, at_bound = _parameter_table(fitted, par, cov, unconstrained, res.active_mask, notes)
    if not basis.exact:
        msg = ("the CR solution is flagged energy-coupled (cr.meta['energy_coupled']): reweighting the reference "
               "solution by Q_fit/S_ref is an approximation; re-solve with the fitted spectrum to check")
        log.warning(msg)
        notes.append(msg)
    if not res.success:
        log.warning("fit did not converge: %s", res.message)
    return FitResult(spectrum=fitted, spectrum_ref=spectrum_ref,
                     basis=basis, values=values, errors=errs, fit_variables=par.names, covariance=cov, chi2=chi2,
                     dof=int(dof), chi2_by_experiment=_chi2_by_experiment(pts, r), n_points=int(pts.E.size),
                     E_min_GeV=float(E_min_GeV), E_max_GeV=float(E_max_GeV), phi_GV=Phi, error_model=errors,
                     exact=basis.exact, success=bool(res.success), message=str(res.message),
                     nfev=int(res.nfev) + nfev_profiled, notes=notes, at_bound=at_bound)


@renamed_keywords(center_kpc="sun_kpc")
def fit_injection(cr, data: Mapping[str, CRData] | Iterable[CRData] | CRData, spectrum_ref: Callable, *,
                  initial: SmoothBrokenPowerLaw | None = None, free: Sequence[str] = DEFAULT_FREE,
                  sun_kpc: Sequence[float] = units.sun_position_kpc, radius_kpc: float = 0.1,
                  E_min_GeV: float = DEFAULT_E_MIN_GeV, E_max_GeV: float = DEFAULT_E_MAX_GeV,
                  errors: str = "mean", phi_GV: float = 0.0, scale_errors: bool = True,
                  bounds: Mapping[str, tuple[float, float]] | None = None) -> FitResult:
    """Fit Q(p) of eq. 2 to local proton data by reweighting a solution made with ``spectrum_ref``.

    Parameters
    ----------
    cr : CRDensity solved with the source spectrum ``spectrum_ref`` (any positive callable of E_GeV)
    data : CRData sets ({label: CRData} from ``crdata.load_experiments`` or a list)
    spectrum_ref : the reference source spectrum of ``cr``
    initial : start values and fixed parameters (default: ``spectrum_ref`` if it is a
        SmoothBrokenPowerLaw, else ``SmoothBrokenPowerLaw()`` with the paper-like defaults)
    free : parameters to fit (fields of SmoothBrokenPowerLaw)
    sun_kpc, radius_kpc : the local sphere (centre: the Sun, default :data:`fpgal.units.sun_position_kpc`;
        radius 0.1 kpc); ``center_kpc`` is the deprecated old name of ``sun_kpc``
    E_min_GeV, E_max_GeV : fit window in kinetic energy
    errors : ``"mean"``, ``"side"`` or ``"max"`` (asymmetric errors, see ``CRData.sigma``)
    phi_GV : force-field modulation potential (0 = none)
    scale_errors : multiply the covariance by χ²/dof when it exceeds 1
    bounds : {parameter: (lo, hi)} overriding the default ranges (``BOUNDS``; p_br within the data)

    Returns
    -------
    FitResult; rescale the solution with ``cr.scaled(result.rescale_factor(cr.E_GeV))``.
    """
    if initial is None:
        initial = spectrum_ref if isinstance(spectrum_ref, SmoothBrokenPowerLaw) else SmoothBrokenPowerLaw(
            mass_GeV=cr.mass_GeV)
    basis = local_basis(cr, spectrum_ref, sun_kpc, radius_kpc)
    return fit_local_flux(basis, data, initial, spectrum_ref=spectrum_ref, free=free, E_min_GeV=E_min_GeV,
                          E_max_GeV=E_max_GeV, errors=errors, phi_GV=phi_GV, scale_errors=scale_errors,
                          bounds=bounds)


@renamed_keywords(center_kpc="sun_kpc")
def fixed_spectrum_result(cr, data: Mapping[str, CRData] | Iterable[CRData] | CRData,
                          spectrum: Callable, spectrum_ref: Callable, *,
                          sun_kpc: Sequence[float] = units.sun_position_kpc, radius_kpc: float = 0.1,
                          E_min_GeV: float = DEFAULT_E_MIN_GeV, E_max_GeV: float = DEFAULT_E_MAX_GeV,
                          errors: str = "mean", phi_GV: float = 0.0) -> dict[str, Any]:
    """χ² of a given spectrum (no fit) against the data, e.g. to compare ε runs with one shared Q(p).

    Returns ``{"chi2", "n_points", "chi2_by_experiment": {label: {"chi2", "n"}}}``; ``sun_kpc`` and
    ``radius_kpc`` as in :func:`fit_injection`.
    """
    basis = local_basis(cr, spectrum_ref, sun_kpc, radius_kpc)
    lo, hi = basis.E_range_GeV
    out: dict[str, dict[str, float]] = {}
    total, n = 0.0, 0
    for d in _as_list(data):
        w = d.select(E_min_GeV, E_max_GeV)
        w = w.take((w.E_GeV >= lo) & (w.E_GeV + abs(basis.Z) * phi_GV <= hi))
        if not w.n:
            continue
        model = basis.flux_cm2(spectrum, w.E_GeV, phi_GV) / PER_M2_TO_PER_CM2
        c2 = float(np.sum(((model - w.J) / w.sigma(errors, model)) ** 2))
        out[w.experiment] = {"chi2": c2, "n": w.n}
        total += c2
        n += w.n
    return {"chi2": total, "n_points": n, "chi2_by_experiment": out}


# ------------------------------------------------------------------------------------ species and the knee
#
# A second species X (helium) is fitted in four named steps, none of which re-solves the transport:
# species_basis (the proton Green's function re-labelled in rigidity, fpgal.species), species_window
# (the proton fit window at equal rigidity), initial_spectrum (eq. 2 in rigidity as a momentum law
# with p = Z R) and fit_species / knee_comparison (fit_local_flux without and with the knee break).

#: parameters the knee option frees (w_knee stays at the start model's value)
KNEE_FREE = ("p_knee_GeV", "alpha3")
#: start values of eq. 2 in rigidity, per species: R_br [GV], α1, α2, w; knee R_knee [GV], α3, w_knee
SPECIES_START = {"H": dict(R_br_GV=500.0, alpha1=-2.35, alpha2=-2.1, w=0.1),
                 "He": dict(R_br_GV=500.0, alpha1=-2.3, alpha2=-2.05, w=0.1)}
KNEE_START = dict(R_knee_GV=3.0e6, alpha3=-3.0, w_knee=0.1)
KNEE_RANGE_GV = (3.0e5, 3.0e7)          # the knee rigidity is kept inside this range


@renamed_keywords(center_kpc="sun_kpc")
def species_basis(cr_p, spectrum_ref_p: Callable, species: str = "H",
                  sun_kpc: Sequence[float] = units.sun_position_kpc, radius_kpc: float = 0.1) -> LocalBasis:
    """G_loc of ``species`` from a proton solution: for X ≠ H the proton G_loc re-labelled in rigidity,

    G_X(E_X(R)) = G_p(E_p(R))  (:func:`fpgal.relabel.relabel_in_rigidity`, pure diffusion only),

    on the energies E_X at the proton grid's rigidities, with X's mass and charge.
    """
    from ..relabel import relabel_in_rigidity
    from ..model.species import species_info
    sp = species_info(species)
    if sp.symbol == "H":
        return local_basis(cr_p, spectrum_ref_p, sun_kpc, radius_kpc)
    unit = lambda E: np.ones_like(np.asarray(E, dtype=float))  # noqa: E731  (G = n / 1)
    cr_x = relabel_in_rigidity(cr_p, spectrum_ref_p, unit, sp)
    return local_basis(cr_x, unit, sun_kpc, radius_kpc)


def species_window(E_min_GeV: float, E_max_GeV: float, species: str = "H") -> tuple[float, float]:
    """The proton kinetic-energy window [E_min, E_max] as the window of ``species`` at equal rigidity [GeV]."""
    from ..model.species import SPECIES, species_info
    lo, hi = SPECIES["H"].same_rigidity_energy_GeV(np.array([E_min_GeV, E_max_GeV], dtype=float),
                                                   species_info(species))
    return float(lo), float(hi)


def initial_spectrum(species: str = "H", knee: bool = False) -> SmoothBrokenPowerLaw:
    """Start model of eq. 2 in rigidity for ``species`` (:data:`SPECIES_START`, :data:`KNEE_START`).

    Q(R) ∝ (R/R_br)^α1 [1 + (R/R_br)^(1/w)]^((α2−α1) w) is the same law in momentum with p_br = Z R_br
    (p = Z R; the normalisation per unit p is that per unit R divided by Z and is fitted anyway).
    """
    from ..model.species import species_info
    sp = species_info(species)
    s = SPECIES_START.get(sp.symbol, SPECIES_START["He"])
    knee = dict(p_knee_GeV=sp.Z * KNEE_START["R_knee_GV"], alpha3=KNEE_START["alpha3"],
                w_knee=KNEE_START["w_knee"]) if knee else {}
    return SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=sp.Z * s["R_br_GV"], alpha1=s["alpha1"], alpha2=s["alpha2"],
                                w=s["w"], mass_GeV=sp.mass_GeV, **knee)


def fit_species(basis: LocalBasis, data: Mapping[str, CRData] | Iterable[CRData] | CRData,
                initial: SmoothBrokenPowerLaw, *, free: Sequence[str] = DEFAULT_FREE, knee: bool = False,
                E_min_GeV: float = DEFAULT_E_MIN_GeV, E_max_GeV: float = DEFAULT_E_MAX_GeV, phi_GV: float = 0.0,
                spectrum_ref: Callable | None = None) -> FitResult:
    """Eq. 2 fitted to one species' data on its basis; ``knee`` also frees p_knee and α3 (w_knee fixed),
    with the knee rigidity kept in :data:`KNEE_RANGE_GV` (p_knee = Z R_knee)."""
    free = tuple(free)
    bounds = None
    if knee:
        if initial.p_knee_GeV <= 0:
            initial = initial.replace(p_knee_GeV=basis.Z * KNEE_START["R_knee_GV"], alpha3=KNEE_START["alpha3"],
                                      w_knee=KNEE_START["w_knee"])
        free = free + tuple(p for p in KNEE_FREE if p not in free)
        bounds = {"p_knee_GeV": (basis.Z * KNEE_RANGE_GV[0], basis.Z * KNEE_RANGE_GV[1])}
    else:
        initial = initial.replace(p_knee_GeV=0.0)
    return fit_local_flux(basis, data, initial, spectrum_ref=spectrum_ref, free=free, E_min_GeV=E_min_GeV,
                          E_max_GeV=E_max_GeV, phi_GV=phi_GV, bounds=bounds)


def knee_comparison(basis: LocalBasis, data: Mapping[str, CRData] | Iterable[CRData] | CRData,
                    initial: SmoothBrokenPowerLaw, *, free: Sequence[str] = DEFAULT_FREE,
                    E_min_GeV: float = DEFAULT_E_MIN_GeV, E_max_GeV: float = DEFAULT_E_MAX_GeV,
                    phi_GV: float = 0.0, spectrum_ref: Callable | None = None) -> dict[str, FitResult]:
    """The same data and window fitted without and with the knee: ``{"no_knee": ..., "knee": ...}``.

    The knee fit starts from the no-knee minimum (its shape below the knee), so the two χ² compare the
    extra break alone.
    """
    plain = fit_species(basis, data, initial, free=free, knee=False, E_min_GeV=E_min_GeV, E_max_GeV=E_max_GeV,
                        phi_GV=phi_GV, spectrum_ref=spectrum_ref)
    kneed = fit_species(basis, data, plain.spectrum.replace(p_knee_GeV=0.0), free=free, knee=True,
                        E_min_GeV=E_min_GeV, E_max_GeV=E_max_GeV, phi_GV=phi_GV, spectrum_ref=spectrum_ref)
    return {"no_knee": plain, "knee": kneed}


__all__ = ["LocalBasis", "FitResult", "local_basis", "fit_local_flux", "fit_injection", "fixed_spectrum_result",
           "DEFAULT_FREE", "species_basis", "species_window", "initial_spectrum", "fit_species", "knee_comparison",
           "KNEE_FREE"]
