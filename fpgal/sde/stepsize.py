"""The default SDE step from the geometry of the diffusion tensor (not from the output cells).

Euler–Maruyama is weak order 1: a smooth functional of the paths (residence in a cell, the mean
escape time) is off by O(dτ) = O(ℓ²), ℓ = √(2 dτ) the rms step along the field, with a coefficient set
by how fast the coefficients change along the path — the curvature of the field direction b and the
gradients of |D| (Kloeden & Platen 1992, §14.1; Talay & Tubaro 1990). The relative bias is therefore
a function of ℓ/L with L the tensor's gradient length. Measured on UF23 base (issue 13): ℓ = 0.25 kpc
gives −14 % in the mean residence and −30 % at the Sun, ℓ = 0.1 kpc −2 %, i.e. ≈ 0.9 (ℓ/L)² with
L ≈ 0.6 kpc from the definition below.

Gradient length. With S = D/D∥ (dimensionless, largest eigenvalue λ ≈ 1 for a field-aligned tensor),

    L(x) = √2 λ_max(S) / ‖∇S‖_F,     ‖∇S‖_F² = Σ_k Σ_ij (∂_k S_ij)²,

by central differences of half-width δ (the lookup-table spacing, else half the smallest cell). For
the ring field b = φ̂ of radius r, S = ε I + (1 − ε) φ̂φ̂ᵀ has ‖∇S‖_F = √2 (1 − ε)/r, so L = r/(1 − ε):
L is the curvature radius of the field line; a magnitude change |D| → |D| + δ|D| over a length ℓ
counts the same way (δ‖S‖/‖S‖ ≈ ℓ/L). Structure finer than δ is smoothed, as it is for the particles
that diffuse through the same (tabulated) tensor.

The region's L is the ``LENGTH_QUANTILE`` (5 %) quantile of L(x) over up to ``N_SAMPLE`` cell centres
inside the escape boundary: a minimum would be set by a single field reversal (L → δ) that the
particles cross in a negligible fraction of their time. The default step is

    ℓ = min(c L, c_esc d_esc, ½ min cell),   c = ``STEP_FRACTION`` = 0.15,  c_esc = ``ESCAPE_FRACTION`` = 0.1,

with d_esc the escape scale (the smallest half-size of the escape region: min(R, H) for a cylinder,
half the shortest side of a box). ℓ/L = 0.15 means a step bias of ≈ 2 % on UF23, which the
Richardson pair (steps dτ and 2dτ, :func:`fpgal.sde.richardson.richardson`) then removes to O(dτ²).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..model.boundary import Box, Cylinder
from ..core.grid import Grid

#: the default rms step along the field is this fraction of the field's gradient length L
STEP_FRACTION = 0.15
#: ... and at most this fraction of the escape scale (smallest half-size of the escape region)
ESCAPE_FRACTION = 0.1
#: L of the region = this quantile of L(x) over the cells inside the boundary
LENGTH_QUANTILE = 0.05
#: cell centres sampled for L(x) (evenly spread over the cells inside the boundary)
N_SAMPLE = 20_000


@dataclass(frozen=True)
class StepChoice:
    """The default step and why: ``step_kpc`` = min(c L, c_esc d_esc, ½ min cell)."""

    step_kpc: float
    gradient_length_kpc: float      # the region's L (quantile of L(x))
    escape_scale_kpc: float
    half_cell_kpc: float
    limited_by: str                 # "gradient length", "escape scale" or "cell size"
    fd_half_width_kpc: float        # δ of the central differences for L(x)
    step_fraction: float = STEP_FRACTION
    escape_fraction: float = ESCAPE_FRACTION
    quantile: float = LENGTH_QUANTILE

    def meta(self) -> dict:
        """Flat metadata (HDF5 attributes), keys prefixed ``step_``."""
        return {f"step_choice_{k}": v for k, v in asdict(self).items()}


def gradient_lengths(S_func, xyz_kpc: np.ndarray, h_kpc: float) -> np.ndarray:
    """L(x) = √2 λ_max(S) / ‖∇S‖_F at the points (N, 3) [kpc]; ∞ where S is constant.

    ``S_func(xyz) -> (N, 3, 3)`` dimensionless; ∇S by central differences of half-width ``h_kpc``.
    """
    x = np.asarray(xyz_kpc, dtype=float)
    n = len(x)
    shifts = np.concatenate([x + h_kpc * e for e in np.eye(3)] + [x - h_kpc * e for e in np.eye(3)] + [x])
    S_all = np.asarray(S_func(shifts), dtype=float)
    plus, minus, centre = S_all[:3 * n].reshape(3, n, 3, 3), S_all[3 * n:6 * n].reshape(3, n, 3, 3), S_all[6 * n:]
    grad2 = np.sum(((plus - minus) / (2.0 * h_kpc)) ** 2, axis=(0, 2, 3))
    lam = np.linalg.eigvalsh(centre)[:, -1]
    with np.errstate(divide="ignore"):
        return np.where(grad2 > 0, math.sqrt(2.0) * lam / np.sqrt(grad2), np.inf)


def escape_scale_kpc(boundary, grid: Grid) -> float:
    """Smallest half-size of the escape region: min(R, H) of a cylinder, half the shortest side of a box
    (an unknown boundary: of the grid)."""
    if isinstance(boundary, Cylinder):
        return float(min(boundary.R_kpc, boundary.H_kpc))
    lo, hi = grid.lower_kpc, grid.upper_kpc
    if isinstance(boundary, Box) and boundary.lower_kpc is not None and boundary.upper_kpc is not None:
        lo, hi = boundary.lower_kpc, boundary.upper_kpc
    return float(0.5 * np.min(np.asarray(hi) - np.asarray(lo)))


def sample_cells(grid: Grid, boundary, n_max: int = N_SAMPLE) -> np.ndarray:
    """Centres of up to ``n_max`` cells inside ``boundary``, evenly spread over them (kpc, (n, 3))."""
    centres = grid.cell_centers_kpc().reshape(-1, 3)
    inside = np.flatnonzero(boundary.inside(centres))
    if len(inside) == 0:
        raise ValueError(f"default SDE step: no cell centre of {grid!r} lies inside {boundary!r}")
    pick = inside[np.linspace(0, len(inside) - 1, min(len(inside), n_max)).astype(np.int64)]
    return centres[pick]


def default_step(S_func, grid: Grid, boundary, fd_half_width_kpc: float | None = None) -> StepChoice:
    """The default rms step ℓ = min(c L, c_esc d_esc, ½ min cell) of the module docstring.

    ``S_func(xyz) -> (N,3,3)``: the dimensionless tensor the particles use (e.g. a lookup table's
    ``spatial``); ``fd_half_width_kpc`` defaults to half the smallest cell.
    """
    half_cell = 0.5 * float(np.min(grid.spacing_kpc))
    h = float(fd_half_width_kpc) if fd_half_width_kpc else half_cell
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"default_step: fd_half_width_kpc={fd_half_width_kpc!r}: expected a positive length in kpc")
    L_x = gradient_lengths(S_func, sample_cells(grid, boundary), h)
    L = float(np.quantile(L_x, LENGTH_QUANTILE)) if np.any(np.isfinite(L_x)) else math.inf
    d_esc = escape_scale_kpc(boundary, grid)
    options = {"gradient length": STEP_FRACTION * L, "escape scale": ESCAPE_FRACTION * d_esc,
               "cell size": half_cell}
    limited_by = min(options, key=options.get)
    return StepChoice(float(options[limited_by]), L, d_esc, half_cell, limited_by, h)
