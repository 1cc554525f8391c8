"""Analytic reference solutions for the SDE tests (Dirichlet box Green's function)."""
from __future__ import annotations

import numpy as np


def box_cell_averages(lower, upper, shape, src_lo, src_hi, D_cm2_s, Q_per_s, n_modes=81, loss_rate_s=0.0):
    """Cell averages of n solving −D∇²n = q in the box [lower, upper] (kpc), n = 0 on its faces.

    q = Q_per_s (total injection rate, particles/s) spread uniformly over the cuboid [src_lo, src_hi].
    Eigenfunction expansion of the Dirichlet Laplacian: φ_lmn = Π_a √(2/L_a) sin(k_a (x_a − lo_a)),
    k_a = π l_a / L_a, eigenvalue λ = Σ k_a²; n = Σ ⟨q, φ⟩ φ / (D λ + r), averaged over each cell.
    A uniform catastrophic loss rate r = ``loss_rate_s`` (−D∇²n + r n = q) shifts λ → λ + r/D.
    Returns n in cm⁻³ (lengths in kpc internally: n_cm3 = n_kpc3 / kpc_cm³ with D_kpc2_s = D / kpc_cm²).
    """
    from fpgal import units
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    L = upper - lower
    V_src = np.prod(np.asarray(src_hi, float) - np.asarray(src_lo, float))
    l = np.arange(1, n_modes + 1)
    proj_src, proj_cells = [], []
    for a in range(3):
        k = np.pi * l / L[a]
        norm = np.sqrt(2.0 / L[a])
        # ∫ φ over the source interval and averaged over each output cell
        lo_s, hi_s = src_lo[a] - lower[a], src_hi[a] - lower[a]
        proj_src.append(norm * (np.cos(k * lo_s) - np.cos(k * hi_s)) / k)
        edges = np.linspace(0.0, L[a], shape[a] + 1)
        h = edges[1] - edges[0]
        cell = norm * (np.cos(np.outer(k, edges[:-1])) - np.cos(np.outer(k, edges[1:]))) / (k[:, None] * h)
        proj_cells.append(cell)
    kx, ky, kz = (np.pi * l / L[a] for a in range(3))
    lam = kx[:, None, None] ** 2 + ky[None, :, None] ** 2 + kz[None, None, :] ** 2
    lam = lam + loss_rate_s / (D_cm2_s / units.kpc_cm ** 2)
    A = proj_src[0][:, None, None] * proj_src[1][None, :, None] * proj_src[2][None, None, :] / lam
    n = np.einsum("lmn,li,mj,nk->ijk", A, *proj_cells, optimize=True)
    # n [kpc^-3] = sum [kpc²] × (Q/V_src) [kpc^-3 s^-1] / D [kpc² s^-1]
    n_kpc3 = n * Q_per_s / V_src / (D_cm2_s / units.kpc_cm ** 2)
    return n_kpc3 / units.kpc_cm ** 3
