"""Drift and noise of the diffusion SDE for one tensor, in rescaled time.

The Fokker–Planck equation ∂n/∂t = ∇·(D∇n) = ∂_i∂_j(D_ij n) − ∂_i((∂_j D_ij) n) is the forward
equation of the Itô process (Gardiner, *Stochastic Methods*, §4.3; Strauss & Effenberger 2017,
Space Sci. Rev. 212, 151, eq. 10)

    dx = (∇·D) dt + √2 D^{1/2} dW,     (∇·D)_i = ∂_j D_ij,   D^{1/2} (D^{1/2})ᵀ = D.

We write D(x, E) = f(E) S(x) with a scale f [cm²/s] — the tensor's ``energy_factor(E)`` = D∥(E) for
separable tensors, 1 cm²/s otherwise — and use the rescaled time τ = f t, counted in kpc²
(τ_kpc2 = f t / kpc_cm²). Then dx_kpc = (∇·S) dτ + √(2 dτ) S^{1/2} ξ with dimensionless S, so one
trajectory set in τ serves every energy of a separable tensor.

Square root of S: with a field-aligned frame (``frame`` method: b, d∥, d⊥ with S = d⊥ I + (d∥−d⊥) b bᵀ)
S^{1/2} ξ = √d⊥ ξ + (√d∥ − √d⊥)(b·ξ) b (the symmetric square root; ξ isotropic, so this equals the
frame form √d∥ ξ₁ b + √d⊥ (ξ₂ e₁ + ξ₃ e₂)). Otherwise a closed-form 3×3 Cholesky factor L (L Lᵀ = S,
same law of the increments as the eigen-decomposition Q Λ^{1/2}), with ``numpy.linalg.eigh`` as the
fallback for semi-definite rows.

Divergence: the tensor's optional ``divergence(xyz_kpc, E_GeV) -> (N,3)`` [cm²/s per kpc] when present,
else central differences (∇·S)_i ≈ Σ_j [S_ij(x + h e_j) − S_ij(x − h e_j)] / 2h with error
O(h² ∂³S) (6 extra tensor evaluations per step). The default h = 1 pc is far below the scales on
which UF23/JF12 change direction (≳ 50 pc: disk/halo transitions, arm widths) and far above the
round-off limit (relative error ~1e-16/h). Where the field direction jumps (|B| crossing zero, field
reversals of models with step-like transitions) the tensor itself is discontinuous and any drift is
only as good as that model.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import units
from ..model.diffusion import evaluate_tensor, is_separable
from ..core.points import as_points

#: default central-difference step for ∇·S [kpc] (see module docstring)
FD_STEP_KPC = 1.0e-3


class SDECoefficients:
    """S(x), ∇·S(x) and S^{1/2}ξ of ``tensor`` at energy ``E_GeV`` in rescaled time τ [kpc²].

    Parameters
    ----------
    tensor : fpgal tensor (callable ``(xyz_kpc, E_GeV) -> (N,3,3)`` cm²/s, optional ``energy_factor``,
        ``spatial``, ``frame``, ``divergence``)
    E_GeV : energy at which the tensor is taken (for separable tensors only ``scale_cm2_s`` depends on it)
    fd_step_kpc : central-difference step h for ∇·S when the tensor has no ``divergence`` method
    scale_cm2_s : the scale f of a non-separable tensor (default 1 cm²/s); pick a typical coefficient so
        that S = D/f is of order one and dτ maps to a step length
    """

    def __init__(self, tensor, E_GeV: float, fd_step_kpc: float = FD_STEP_KPC, scale_cm2_s: float | None = None):
        if not callable(tensor):
            raise TypeError(f"SDE: tensor={tensor!r} is not callable (xyz_kpc, E_GeV) -> D (N,3,3) cm²/s")
        h = float(fd_step_kpc)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"SDE: fd_step_kpc={fd_step_kpc!r} must be a positive length in kpc")
        E = float(E_GeV)
        if not (math.isfinite(E) and E > 0):
            raise ValueError(f"SDE: E_GeV={E_GeV!r} must be a positive energy in GeV")
        self.tensor = tensor
        self.E_GeV = E
        self.fd_step_kpc = h
        self.separable = is_separable(tensor)
        if self.separable:
            self.scale_cm2_s = float(tensor.energy_factor(E))
        else:
            self.scale_cm2_s = 1.0 if scale_cm2_s is None else float(scale_cm2_s)
        if not (math.isfinite(self.scale_cm2_s) and self.scale_cm2_s > 0):
            raise ValueError(f"SDE: {tensor!r}.energy_factor({E}) = {self.scale_cm2_s!r}; expected a positive D∥ in cm²/s")
        self.has_frame = self.separable and callable(getattr(tensor, "frame", None))
        self.has_divergence = callable(getattr(tensor, "divergence", None))

    # ----------------------------------------------------------------- time conversion
    def tau_kpc2(self, t_s: float) -> float:
        """Rescaled time τ = f(E) t in kpc² for a physical time ``t_s``."""
        return self.scale_cm2_s * float(t_s) / units.kpc_cm ** 2

    # ----------------------------------------------------------------- tensor pieces
    def S(self, xyz: np.ndarray) -> np.ndarray:
        """Dimensionless S = D/f, shape (N, 3, 3)."""
        if self.separable:
            return np.asarray(self.tensor.spatial(xyz), dtype=float)
        # finite and symmetric at every step; positive definiteness is checked once at the door
        # (sde.steady_state / propagate), not on every step
        return evaluate_tensor(self.tensor, xyz, self.E_GeV, positive_definite=False) / self.scale_cm2_s

    def frame(self, xyz: np.ndarray):
        """(b, d∥_rel, d⊥_rel) of a field-aligned tensor."""
        if not self.has_frame:
            raise TypeError(f"tensor {self.tensor!r} has no field-aligned frame (method frame(xyz) -> b, d_par, d_perp)")
        b, dpar, dperp = self.tensor.frame(xyz)
        return np.asarray(b, dtype=float), np.asarray(dpar, dtype=float), np.asarray(dperp, dtype=float)

    def divergence(self, xyz: np.ndarray) -> np.ndarray:
        """∇·S in kpc⁻¹, shape (N, 3) (analytic if the tensor provides it, else central differences)."""
        if self.has_divergence:
            div = np.asarray(self.tensor.divergence(xyz, self.E_GeV), dtype=float)
            if div.shape != xyz.shape:
                raise ValueError(f"{self.tensor!r}.divergence returned shape {div.shape}, expected {xyz.shape}")
            return div / self.scale_cm2_s
        return fd_divergence(self.S, xyz, self.fd_step_kpc)

    def increment(self, xyz: np.ndarray, xi: np.ndarray, dtau_kpc2: float, drift: bool = True):
        """Itô (Euler–Maruyama) displacement over dτ and the normal-variance function of this step.

        Returns ``(dx (N,3) kpc, quad)`` with ``quad(n, idx) = nᵀ S(x[idx]) n`` for unit vectors n, used
        for the Brownian-bridge escape correction.
        """
        tab = getattr(self.tensor, "spatial_and_divergence", None)
        if tab is not None and self.separable:
            S, div = tab(xyz)
            dx = math.sqrt(2.0 * dtau_kpc2) * cholesky_apply(S, xi)
            if drift:
                dx += div * dtau_kpc2
            return dx, tensor_quad(S)
        if self.has_frame:
            b, dpar, dperp = self.frame(xyz)
            dx = math.sqrt(2.0 * dtau_kpc2) * frame_sqrt_apply(b, dpar, dperp, xi)
            quad = frame_quad(b, dpar, dperp)
        else:
            S = self.S(xyz)
            dx = math.sqrt(2.0 * dtau_kpc2) * cholesky_apply(S, xi)
            quad = tensor_quad(S)
        if drift:
            dx += self.divergence(xyz) * dtau_kpc2
        return dx, quad

    def sqrt_apply(self, xyz: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """S^{1/2} ξ for standard normal ξ (N, 3): an increment with covariance S."""
        if self.has_frame:
            b, dpar, dperp = self.frame(xyz)
            return frame_sqrt_apply(b, dpar, dperp, xi)
        return cholesky_apply(self.S(xyz), xi)


def frame_quad(b: np.ndarray, dpar: np.ndarray, dperp: np.ndarray):
    """``quad(n, idx) = nᵀ S n`` for the particles ``idx`` of a field-aligned S."""
    return lambda n, idx: dperp[idx] + (dpar[idx] - dperp[idx]) * np.einsum("ij,ij->i", n, b[idx]) ** 2


def tensor_quad(S: np.ndarray):
    """``quad(n, idx) = nᵀ S n`` for the particles ``idx`` of a general S (N,3,3)."""
    return lambda n, idx: np.einsum("ni,nij,nj->n", n, S[idx], n)


def fd_divergence(S_func, xyz: np.ndarray, h: float) -> np.ndarray:
    """(∇·S)_i = Σ_j ∂_j S_ij by central differences of step ``h`` [kpc]; error O(h²)."""
    xyz = as_points(xyz)
    n = len(xyz)
    # evaluate all six shifted sets in one call (fields are cheaper per point in large batches)
    shifts = np.concatenate([xyz + h * e for e in np.eye(3)] + [xyz - h * e for e in np.eye(3)])
    S_all = S_func(shifts).reshape(2, 3, n, 3, 3)
    div = np.zeros((n, 3))
    for j in range(3):
        div += (S_all[0, j, :, :, j] - S_all[1, j, :, :, j]) / (2.0 * h)
    return div


def frame_sqrt_apply(b: np.ndarray, dpar: np.ndarray, dperp: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """Symmetric square root of S = d⊥ I + (d∥ − d⊥) b bᵀ applied to ξ."""
    sp = np.sqrt(dperp)
    bxi = np.einsum("ij,ij->i", b, xi)
    return sp[:, None] * xi + ((np.sqrt(dpar) - sp) * bxi)[:, None] * b


def cholesky_apply(S: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """L ξ with L Lᵀ = S (closed-form 3×3 Cholesky, eigh fallback for semi-definite S)."""
    s00, s01, s02 = S[:, 0, 0], S[:, 0, 1], S[:, 0, 2]
    s11, s12, s22 = S[:, 1, 1], S[:, 1, 2], S[:, 2, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        l00 = np.sqrt(s00)
        l10 = s01 / l00
        l20 = s02 / l00
        l11 = np.sqrt(s11 - l10 * l10)
        l21 = (s12 - l20 * l10) / l11
        l22 = np.sqrt(s22 - l20 * l20 - l21 * l21)
    out = np.empty_like(xi)
    out[:, 0] = l00 * xi[:, 0]
    out[:, 1] = l10 * xi[:, 0] + l11 * xi[:, 1]
    out[:, 2] = l20 * xi[:, 0] + l21 * xi[:, 1] + l22 * xi[:, 2]
    bad = ~np.all(np.isfinite(out), axis=1)
    if np.any(bad):
        w, Q = np.linalg.eigh(S[bad])
        if np.any(w < -1e-10 * np.max(np.abs(w), axis=1, keepdims=True)):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"SDE: diffusion tensor is not positive semi-definite (eigenvalues {w[0].tolist()} "
                             f"in units of the energy factor at particle {i})")
        out[bad] = np.einsum("nij,nj->ni", Q, np.sqrt(np.clip(w, 0.0, None)) * xi[bad])
    return out
