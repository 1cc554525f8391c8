"""Diffusion coefficients and tensors.

* :class:`BrokenPowerLaw` — the scalar parallel coefficient of the reference study (Dörner et al.
  ICRC2025, eq. 1; fit of CRPropa-style D∥ to B/C):
  ``D∥(E) = D0 (E/E_br)^γ1 (1 + (E/E_br)^(γ2−γ1))^−1``, E_br = 64.38 GeV, γ1 = 0.335, γ2 = −0.321.
* :class:`CRPropaLaw` — CRPropa 3's ``D∥ = scale · 6.1e24 m²/s · (R/4 GV)^(1/3)``.
* :class:`FieldAligned` — ``D_ij(x, E) = D⊥ δ_ij + (D∥ − D⊥) b_i b_j`` with ``b = B/|B|``,
  ``D⊥ = ε D∥``.
* :class:`Isotropic` — ``D_ij = D(E) δ_ij``.

A *tensor* is any callable ``tensor(xyz_kpc (N, 3), E_GeV: float) -> (N, 3, 3)`` in cm²/s
(symmetric, positive definite). Write your own by implementing that one method, or subclass
:class:`SeparableTensor` and write ``energy_factor`` and ``spatial`` (docs/numerics.md, "Writing a
custom tensor"; ``examples/custom_tensor.py``). Optional attributes make solvers faster:

* ``energy_factor(E_GeV) -> float`` and ``spatial(xyz_kpc) -> (N, 3, 3)``: declares that
  ``tensor(x, E) = energy_factor(E) * spatial(x)`` (separable; the anisotropy does not change with
  energy). Both fpgal solvers then solve one spatial problem for all energies.
* ``frame(xyz_kpc) -> (b (N,3), d_par_rel (N,), d_perp_rel (N,))``: the field-aligned frame with
  ``spatial = d_perp_rel I + (d_par_rel - d_perp_rel) b bᵀ`` (used by the SDE module).
"""
from __future__ import annotations

import math
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .fields.base import FieldLike, evaluate_field, unit_direction
from ..core.modelbase import Model
from ..core.points import as_points


@runtime_checkable
class TensorLike(Protocol):
    def __call__(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray: ...


def _positive(name: str, value: float, owner: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive finite number")
    return v


class BrokenPowerLaw(Model):
    """Parallel diffusion coefficient D∥(E) in cm²/s (smoothly broken power law).

    ``D∥(E) = D0 (E/E_br)^γ1 / (1 + (E/E_br)^(γ2−γ1))``, so D∥(E_br) = D0/2; for E ≫ E_br
    D∥ → D0 (E/E_br)^γ1 and for E ≪ E_br D∥ → D0 (E/E_br)^(2γ1−γ2) (γ2 < 0 steepens the
    low-energy branch to E^0.991). Valid for E ≳ 10 GeV (Dörner et al. ICRC2025, eq. 1).
    """

    def __init__(self, D0_cm2_s: float, E_br_GeV: float = 64.38, gamma1: float = 0.335,
                 gamma2: float = -0.321):
        self.D0_cm2_s = _positive("D0_cm2_s", D0_cm2_s, "BrokenPowerLaw")
        self.E_br_GeV = _positive("E_br_GeV", E_br_GeV, "BrokenPowerLaw")
        if not (math.isfinite(gamma1) and math.isfinite(gamma2)):
            raise ValueError(f"BrokenPowerLaw: gamma1={gamma1!r}, gamma2={gamma2!r} must be finite")
        self.gamma1 = float(gamma1)
        self.gamma2 = float(gamma2)

    def __call__(self, E_GeV):
        x = np.asarray(E_GeV, dtype=float) / self.E_br_GeV
        return self.D0_cm2_s * x ** self.gamma1 / (1.0 + x ** (self.gamma2 - self.gamma1))


class PowerLaw(Model):
    """A power-law *diffusion coefficient*: ``D(E) = D0 (E/E0)^δ`` in cm²/s.

    Namesake: :class:`fpgal.spectra.PowerLaw` is a power-law source (injection) spectrum Q(E).
    """

    def __init__(self, D0_cm2_s: float, E0_GeV: float = 1.0, delta: float = 0.5):
        self.D0_cm2_s = _positive("D0_cm2_s", D0_cm2_s, "PowerLaw")
        self.E0_GeV = _positive("E0_GeV", E0_GeV, "PowerLaw")
        self.delta = float(delta)

    def __call__(self, E_GeV):
        return self.D0_cm2_s * (np.asarray(E_GeV, dtype=float) / self.E0_GeV) ** self.delta


class CRPropaLaw(Model):
    """CRPropa 3's parallel coefficient (``DiffusionSDE``, Merten et al. 2017, JCAP 06, 046):
    ``D∥ = D0 (R / 4 GV)^α`` with D0 = scale · 6.1e24 m²/s = scale · 6.1e28 cm²/s and α = 1/3.

    CRPropa takes the rigidity as the particle's energy over its charge, R = E/Z; here R [GV] =
    E_GeV / Z (for protons at 1 TeV the kinetic/total-energy distinction changes D∥ by 0.03 %).
    At 1 TV: D∥ = 6.1e28 · 250^(1/3) = 3.8428e29 cm²/s (scale 1).
    """

    D_REF_CM2_S = 6.1e28      # CRPropa's 6.1e24 m²/s
    R_REF_GV = 4.0

    def __init__(self, D0_cm2_s: float = D_REF_CM2_S, alpha: float = 1.0 / 3.0, Z: int = 1):
        self.D0_cm2_s = _positive("D0_cm2_s", D0_cm2_s, "CRPropaLaw")
        if not math.isfinite(alpha):
            raise ValueError(f"CRPropaLaw: alpha={alpha!r} must be finite")
        self.alpha = float(alpha)
        self.Z = int(_positive("Z", Z, "CRPropaLaw"))

    @property
    def scale(self) -> float:
        """CRPropa's ``scale`` parameter: D0 / 6.1e24 m²/s."""
        return self.D0_cm2_s / self.D_REF_CM2_S

    def __call__(self, E_GeV):
        R_GV = np.asarray(E_GeV, dtype=float) / self.Z
        return self.D0_cm2_s * (R_GV / self.R_REF_GV) ** self.alpha


class SeparableTensor(Model):
    """Base class of a separable tensor ``D(x, E) = energy_factor(E) · spatial(x)`` [cm²/s].

    Subclasses write ``energy_factor(E_GeV) -> float`` (cm²/s) and ``spatial(xyz_kpc) -> (N, 3, 3)``
    (dimensionless, symmetric positive definite); ``__call__`` is their product, and the solvers
    then solve one spatial problem for every energy (:func:`is_separable`).
    """

    def energy_factor(self, E_GeV: float) -> float:
        raise NotImplementedError(f"{type(self).__name__}.energy_factor(E_GeV) -> float in cm²/s is not written")

    def spatial(self, xyz_kpc: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.spatial(xyz_kpc) -> (N, 3, 3) is not written")

    def __call__(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self.energy_factor(E_GeV) * self.spatial(as_points(xyz_kpc))


class Constant(Model):
    """An energy-independent diffusion coefficient ``D(E) = D_cm2_s`` in cm²/s (what a number given as
    ``d`` / ``d_par`` of a tensor becomes)."""

    def __init__(self, D_cm2_s: float):
        self.D_cm2_s = _positive("D_cm2_s", D_cm2_s, "Constant")

    def __call__(self, E_GeV):
        return self.D_cm2_s * np.ones_like(np.asarray(E_GeV, dtype=float))


def _as_energy_law(d: float | Callable) -> Callable:
    if callable(d):
        return d
    return Constant(_positive("d_par", d, "tensor"))


class Isotropic(Model):
    """Scalar diffusion ``D_ij = D(E) δ_ij``; ``d`` is a constant in cm²/s or a callable of E_GeV."""

    def __init__(self, d: float | Callable = 1.0e28):
        self.d = _as_energy_law(d)

    def energy_factor(self, E_GeV: float) -> float:
        return float(self.d(E_GeV))

    def spatial(self, xyz_kpc: np.ndarray) -> np.ndarray:
        xyz = as_points(xyz_kpc)
        return np.broadcast_to(np.eye(3), (len(xyz), 3, 3)).copy()

    def frame(self, xyz_kpc: np.ndarray):
        xyz = as_points(xyz_kpc)
        b = np.zeros_like(xyz)
        b[:, 2] = 1.0
        one = np.ones(len(xyz))
        return b, one, one

    def __call__(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self.energy_factor(E_GeV) * self.spatial(xyz_kpc)


def frame_tensor(b: np.ndarray, d_par: np.ndarray, d_perp: np.ndarray) -> np.ndarray:
    """``D = d⊥ I + (d∥ − d⊥) b bᵀ`` (N, 3, 3) from unit directions ``b`` (N, 3) and the coefficients along
    (``d_par``) and across (``d_perp``) them (N,), in their units: the one place of the field-aligned form
    (:class:`FieldAligned`, tabulated frames)."""
    return d_perp[:, None, None] * np.eye(3) + (d_par - d_perp)[:, None, None] * b[:, :, None] * b[:, None, :]


class FieldAligned(Model):
    """Field-aligned tensor ``D = D⊥ I + (D∥ − D⊥) b bᵀ`` with ``D⊥ = ε D∥(E)``.

    Parameters
    ----------
    field : callable (N,3) kpc -> (N,3) μG
    epsilon : anisotropy ε = D⊥/D∥ in (0, 1]
    d_par : D∥ as a callable of E_GeV (e.g. :class:`BrokenPowerLaw`) or a constant in cm²/s

    Where |B| vanishes (``|B| <= fields.base.B_FLOOR_MUG``) the direction is undefined and the tensor
    is isotropic with the trace-preserving value (D∥ + 2 D⊥)/3.
    Reference: e.g. Effenberger et al. 2012 (A&A 547, A120); Dörner et al. ICRC2025.
    """

    def __init__(self, field: FieldLike, epsilon: float, d_par: float | Callable):
        eps = float(epsilon)
        if not (math.isfinite(eps) and 0.0 < eps <= 1.0):
            raise ValueError(f"FieldAligned: epsilon={epsilon!r} must lie in (0, 1] (ε = D⊥/D∥)")
        if not callable(field):
            raise TypeError(f"FieldAligned: field={field!r} is not callable (xyz_kpc -> B_muG)")
        self.field = field
        self.epsilon = eps
        self.d_par = _as_energy_law(d_par)

    def energy_factor(self, E_GeV: float) -> float:
        """D∥(E) in cm²/s."""
        return float(self.d_par(E_GeV))

    def frame(self, xyz_kpc: np.ndarray):
        """(b, d_par_rel, d_perp_rel): direction and relative coefficients (units of D∥)."""
        b, zero = unit_direction(evaluate_field(self.field, xyz_kpc))
        n = len(b)
        d_par = np.ones(n)
        d_perp = np.full(n, self.epsilon)
        iso = (1.0 + 2.0 * self.epsilon) / 3.0
        d_par[zero] = iso
        d_perp[zero] = iso
        b[zero] = (0.0, 0.0, 1.0)
        return b, d_par, d_perp

    def spatial(self, xyz_kpc: np.ndarray) -> np.ndarray:
        """D(x, E)/D∥(E), shape (N, 3, 3), dimensionless."""
        return frame_tensor(*self.frame(xyz_kpc))

    def __call__(self, xyz_kpc: np.ndarray, E_GeV: float) -> np.ndarray:
        return self.energy_factor(E_GeV) * self.spatial(xyz_kpc)


#: relative tolerance of the symmetry check: max |D − Dᵀ| ≤ SYMMETRY_RTOL · max |D| at every point
SYMMETRY_RTOL = 1e-10


def _point_text(xyz: np.ndarray, i: int) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in xyz[i]) + ") kpc"


def check_tensor_values(D: np.ndarray, xyz_kpc: np.ndarray, what: str, units_text: str = "cm²/s",
                        positive_definite: bool = True) -> np.ndarray:
    """Check tensor values ``D`` (N, 3, 3) at the points ``xyz_kpc`` (N, 3); return D as a float array.

    The one validation of diffusion tensors, used by both solvers for both kinds of tensor (the full
    ``tensor(x, E)`` and the ``spatial(x)`` part of a separable one):

    * shape (N, 3, 3);
    * finite everywhere;
    * symmetric: ``max |D − Dᵀ| ≤ SYMMETRY_RTOL · max |D|`` at every point;
    * positive definite (``positive_definite=True``): smallest eigenvalue > 0 at every point
      (Sylvester's criterion on all points, the eigenvalues of the offending point for the message).

    ``what`` names the tensor in the message (e.g. ``"tensor FieldAligned(...) at E_GeV=100"``). A
    failure raises ValueError naming ``what``, the first bad point in kpc, the offending value and
    how many of the N points fail.
    """
    xyz = np.asarray(xyz_kpc, dtype=float).reshape(-1, 3)
    D = np.asarray(D, dtype=float)
    n = len(xyz)
    if D.shape != (n, 3, 3):
        raise ValueError(f"{what} returned shape {D.shape}, expected ({n}, 3, 3) in {units_text}")
    if n == 0:
        return D

    def fail(bad: np.ndarray, problem: str, value) -> None:
        i = int(np.flatnonzero(bad)[0])
        unit = f" in {units_text}" if units_text != "(dimensionless)" else ", dimensionless"
        raise ValueError(f"{what} {problem} at x = {_point_text(xyz, i)}: {value(i)} "
                         f"({int(bad.sum())} of {n} points); expected a finite, symmetric, positive definite "
                         f"3×3 tensor{unit}")

    finite = np.isfinite(D).all(axis=(1, 2))
    if not finite.all():
        fail(~finite, "is NaN/inf", lambda i: f"D = {np.array2string(D[i], precision=4)}")
    _check_symmetric(D, fail)
    if positive_definite:
        _check_positive_definite(D, fail, units_text)
    return D


def _check_symmetric(D: np.ndarray, fail: Callable) -> None:
    """``fail(bad, ...)`` at the points where ``max |D − Dᵀ| > SYMMETRY_RTOL · max |D|``, naming the
    most asymmetric pair of entries."""
    asym = np.abs(D - np.swapaxes(D, 1, 2)).max(axis=(1, 2))
    scale = np.abs(D).max(axis=(1, 2))
    nonsym = asym > SYMMETRY_RTOL * scale
    if nonsym.any():
        def value(i):
            a, b = np.unravel_index(int(np.argmax(np.abs(D[i] - D[i].T))), (3, 3))
            return (f"D[{a},{b}] = {D[i, a, b]:.6g} but D[{b},{a}] = {D[i, b, a]:.6g} "
                    f"(max |D − Dᵀ| / max |D| = {asym[i] / scale[i]:.3g} > {SYMMETRY_RTOL:g})")
        fail(nonsym, "is not symmetric", value)


def _check_positive_definite(D: np.ndarray, fail: Callable, units_text: str) -> None:
    """``fail(bad, ...)`` at the points whose smallest eigenvalue is ≤ 0, naming the eigenvalues.

    Sylvester's criterion (all leading principal minors > 0) screens every point cheaply and
    vectorised; the eigenvalues of the suspects decide.
    """
    m1 = D[:, 0, 0]
    m2 = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] * D[:, 1, 0]
    m3 = (D[:, 0, 0] * (D[:, 1, 1] * D[:, 2, 2] - D[:, 1, 2] * D[:, 2, 1])
          - D[:, 0, 1] * (D[:, 1, 0] * D[:, 2, 2] - D[:, 1, 2] * D[:, 2, 0])
          + D[:, 0, 2] * (D[:, 1, 0] * D[:, 2, 1] - D[:, 1, 1] * D[:, 2, 0]))
    suspect = np.flatnonzero(~((m1 > 0) & (m2 > 0) & (m3 > 0)))
    if suspect.size:
        lam = np.linalg.eigvalsh(D[suspect])
        bad = np.zeros(len(D), dtype=bool)
        bad[suspect[lam[:, 0] <= 0]] = True
        if bad.any():
            eig = {int(k): v for k, v in zip(suspect, lam)}
            fail(bad, "is not positive definite",
                 lambda i: f"smallest eigenvalue {eig[i][0]:.4g} {units_text} (eigenvalues "
                           f"{', '.join(f'{v:.4g}' for v in eig[i])})")


def evaluate_tensor(tensor: TensorLike, xyz_kpc: np.ndarray, E_GeV: float,
                    positive_definite: bool = True) -> np.ndarray:
    """Call any tensor at ``E_GeV`` and check its output (:func:`check_tensor_values`): (N, 3, 3) in
    cm²/s, finite, symmetric and (unless ``positive_definite=False``) positive definite."""
    xyz = as_points(xyz_kpc)
    return check_tensor_values(tensor(xyz, E_GeV), xyz, f"tensor {tensor!r} at E_GeV={E_GeV:g}",
                               positive_definite=positive_definite)


def evaluate_spatial(tensor, xyz_kpc: np.ndarray, positive_definite: bool = True) -> np.ndarray:
    """``tensor.spatial(xyz)`` of a separable tensor, checked like :func:`evaluate_tensor` (dimensionless)."""
    xyz = as_points(xyz_kpc)
    return check_tensor_values(tensor.spatial(xyz), xyz, f"tensor {tensor!r}: spatial()", units_text="(dimensionless)",
                               positive_definite=positive_definite)


def energy_factors(tensor, E_GeV) -> np.ndarray:
    """``tensor.energy_factor(E)`` at the energies ``E_GeV`` (1-D); ValueError naming the energies where
    it is not a finite positive number (or where it raises)."""
    E = np.atleast_1d(np.asarray(E_GeV, dtype=float))
    f = np.empty(E.size)
    for k, e in enumerate(E):
        try:
            f[k] = float(np.asarray(tensor.energy_factor(float(e)), dtype=float))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tensor {tensor!r}: energy_factor({e:g}) did not give a number: {exc}") from exc
    bad = ~(np.isfinite(f) & (f > 0))
    if bad.any():
        raise ValueError(f"tensor {tensor!r}: energy_factor must be a finite positive number (cm²/s), got "
                         f"{f[bad].tolist()} at E_GeV={E[bad].tolist()}")
    return f


def is_separable(tensor) -> bool:
    """True when the tensor declares ``tensor(x, E) = energy_factor(E) * spatial(x)``."""
    return callable(getattr(tensor, "energy_factor", None)) and callable(getattr(tensor, "spatial", None))
