"""CRPropa 3's ``SourcePulsarDistribution`` sampled exactly, and histograms on the benchmark cells.

The sampling law (CRPropa 3, ``src/Source.cpp``, ``SourcePulsarDistribution::prepareParticle``,
default parameters; Blasi & Amato 2012, JCAP 01, 010; Faucher-Giguère & Kaspi 2006, ApJ 643, 332):

* R̃ on [0, 22 kpc] with density ∝ f_r(R̃) = R̃ (R̃/R⊙)² exp(−β (R̃ − R⊙)/R⊙), R⊙ = 8.5 kpc, β = 3.53
  (CRPropa: accept–reject against 1.1 max f_r; here accept–reject against max f_r = f_r(3R⊙/β), the
  same law);
* z on |z| < 5 kpc with density ∝ exp(−|z|/z_g), z_g = 0.3 kpc (here by the inverse CDF, same law);
* one of the four arms i uniformly (CRPropa's ``randInt(3)`` is inclusive: 0…3), θ̃ = k_i ln(R̃/r_i) + θ_i
  with (k, r [kpc], θ) = (4.25, 3.48, 0), (4.25, 3.48, 3.14), (4.89, 4.9, 2.52), (4.89, 4.9, −0.62);
* R ~ Normal(R̃, 0.07 R̃), φ = θ̃ + U(−π, π) · exp(−0.35 R̃/kpc), x = (R cos φ, R sin φ, z).

:class:`CRPropaPulsarSamples` turns the law into a *seeded high-count histogram* source for the
solvers: ``deposit(grid)`` = (samples in the cell and inside the escape cylinder) / (all samples ·
V_cell) in kpc⁻³, i.e. a density that integrates to the fraction of CRPropa's sources born inside
the cylinder (not renormalised: those born outside escape at once). Its error is the multinomial
noise of the counts, relative 1/√(count) per cell; its effect on the benchmark numbers is measured
by changing the seed (docs/validation.md §1).
"""
from __future__ import annotations

import math

import numpy as np

from ...model.sources import FGK_ARMS

R_SUN_KPC, BETA, Z_G_KPC = 8.5, 3.53, 0.3
R_MAX_KPC, Z_MAX_KPC = 22.0, 5.0
R_BLUR, THETA_BLUR_PER_KPC = 0.07, 0.35


def _f_r(R: np.ndarray) -> np.ndarray:
    return R * (R / R_SUN_KPC) ** 2 * np.exp(-BETA * (R - R_SUN_KPC) / R_SUN_KPC)


def _radii(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` values of R̃ with density ∝ f_r on [0, R_max] (vectorised accept–reject, efficiency ≈ 0.49)."""
    f_max = float(_f_r(np.array(3.0 * R_SUN_KPC / BETA)))
    out = np.empty(0)
    while len(out) < n:
        m = int(1.2 * (n - len(out)) / 0.45) + 64
        R = rng.random(m) * R_MAX_KPC
        out = np.concatenate([out, R[rng.random(m) * f_max <= _f_r(R)]])
    return out[:n]


def sample_crpropa_pulsars(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` source positions (n, 3) in kpc drawn from CRPropa 3's SourcePulsarDistribution (module doc)."""
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"sample_crpropa_pulsars: n={n!r}: expected a non-negative integer")
    n = int(n)
    R_t = _radii(n, rng)
    u = rng.random(n)
    z_abs = -Z_G_KPC * np.log1p(-u * (1.0 - math.exp(-Z_MAX_KPC / Z_G_KPC)))
    z = np.where(rng.random(n) < 0.5, -z_abs, z_abs)
    arms = np.asarray(FGK_ARMS)[rng.integers(0, 4, n)]
    theta = arms[:, 0] * np.log(np.maximum(R_t, 1e-300) / arms[:, 1]) + arms[:, 2]
    R = rng.normal(R_t, R_BLUR * R_t)
    phi = theta + rng.uniform(-np.pi, np.pi, n) * np.exp(-THETA_BLUR_PER_KPC * R_t)
    return np.stack([R * np.cos(phi), R * np.sin(phi), z], axis=1)


class CRPropaPulsarSamples:
    """Seeded high-count histogram of :func:`sample_crpropa_pulsars` as a source for both solvers.

    ``deposit(grid)`` → (nx, ny, nz) kpc⁻³: counts of samples inside ``R < R_kpc, |z| < H_kpc`` per
    cell, divided by ``n_samples`` and the cell volume (so Σ deposit · V = fraction born inside the
    cylinder, ≈ 0.9999). The samples are drawn in chunks of ``chunk`` from seeds spawned from
    ``seed``: the histogram is the same on every MPI rank and for any grid. As a function of points
    it is zero (like :class:`fpgal.sources.PointSource`): solvers use ``deposit``.
    """

    def __init__(self, n_samples: int = 20_000_000, seed: int = 1, R_kpc: float = 20.0, H_kpc: float = 4.0,
                 chunk: int = 2_000_000):
        if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"CRPropaPulsarSamples: n_samples={n_samples!r}: expected a positive integer")
        self.n_samples, self.seed, self.chunk = int(n_samples), int(seed), int(chunk)
        self.R_kpc, self.H_kpc = float(R_kpc), float(H_kpc)
        self._cache: dict = {}

    def samples(self):
        """Yield the samples inside the cylinder, chunk by chunk (same sequence on every call)."""
        n_chunks = -(-self.n_samples // self.chunk)
        for k, ss in enumerate(np.random.SeedSequence(self.seed).spawn(n_chunks)):
            m = min(self.chunk, self.n_samples - k * self.chunk)
            x = sample_crpropa_pulsars(m, np.random.default_rng(ss))
            yield x[(np.hypot(x[:, 0], x[:, 1]) < self.R_kpc) & (np.abs(x[:, 2]) < self.H_kpc)]

    def counts(self, edges: tuple) -> np.ndarray:
        """Sample counts in the cells of the three edge arrays (kpc), cached per edge set."""
        key = tuple(np.asarray(e, dtype=float).tobytes() for e in edges)
        if key not in self._cache:
            total = np.zeros(tuple(len(e) - 1 for e in edges))
            for x in self.samples():
                total += np.histogramdd(x, bins=edges)[0]
            self._cache[key] = total
        return self._cache[key]

    def deposit(self, grid) -> np.ndarray:
        counts = self.counts(tuple(grid.edges_kpc(a) for a in range(3)))
        return counts / (self.n_samples * grid.cell_volume_kpc3)

    def __call__(self, xyz_kpc: np.ndarray) -> np.ndarray:
        return np.zeros(len(np.asarray(xyz_kpc).reshape(-1, 3)))

    def __repr__(self) -> str:
        return (f"CRPropaPulsarSamples(n_samples={self.n_samples}, seed={self.seed}, R_kpc={self.R_kpc:g}, "
                f"H_kpc={self.H_kpc:g})")


def overlap_fractions(fine_edges: np.ndarray, coarse_edges: np.ndarray) -> np.ndarray:
    """(n_fine, n_coarse): fraction of each fine interval's length inside each coarse interval."""
    f, c = np.asarray(fine_edges, dtype=float), np.asarray(coarse_edges, dtype=float)
    lo = np.maximum(f[:-1, None], c[None, :-1])
    hi = np.minimum(f[1:, None], c[None, 1:])
    return np.clip(hi - lo, 0.0, None) / np.diff(f)[:, None]


def rebin_content(content: np.ndarray, fine_edges: tuple, coarse_edges: tuple) -> np.ndarray:
    """Conservative rebinning of a per-cell *content* (e.g. particles per cell) by exact volume overlap.

    For a density uniform in each fine cell, coarse content_abc = Σ_ijk content_ijk f^x_ia f^y_jb f^z_kc
    with f the 1-D overlap fractions (:func:`overlap_fractions`); content outside the coarse box is
    dropped, everything inside is kept exactly (Σ coarse = Σ fine when the boxes agree).
    """
    out = np.asarray(content, dtype=float)
    for axis in range(3):
        w = overlap_fractions(fine_edges[axis], coarse_edges[axis])
        out = np.moveaxis(np.tensordot(out, w, axes=([axis], [0])), -1, axis)
    return out
