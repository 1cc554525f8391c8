"""Source distributions (normalisation, arms) and the pp cross section."""
import numpy as np
import pytest

from fpgal import sources
from fpgal.grid import Grid
from fpgal.transport.losses import PPLosses, sigma_pp_inel_mb, T_TH_GEV


@pytest.mark.parametrize("name", ["pulsar", "snr", "lorimer2006", "yusifov2004"])
def test_galactic_sources_integrate_to_one(name):
    src = sources.source_from_name(name)
    # all but ~e^-(30 kpc / R-scale) of the mass and e^-(6/0.33) of the vertical profile is inside
    grid = Grid((-30, 30, 120), (-30, 30, 120), (-6, 6, 48))
    total = sources.grid_fraction(src, grid, points_per_axis=2)
    assert total == pytest.approx(1.0, abs=2e-3)


def test_blasi_amato_surface_density_analytic_normalisation():
    # Σ(R) = β⁴ e^-β / (12 π R⊙²) (R/R⊙)² exp(−β(R−R⊙)/R⊙) (Blasi & Amato 2012; CRPropa's fr)
    beta, Rs = 3.53, 8.5
    src = sources.CaseBhattacharya(alpha=2.0, beta=beta, R_sun_kpc=Rs)
    R = np.array([1.0, 4.0, 8.5, 15.0])
    expected = beta ** 4 * np.exp(-beta) / (12 * np.pi * Rs ** 2) * (R / Rs) ** 2 * np.exp(-beta * (R - Rs) / Rs)
    np.testing.assert_allclose(src.surface_density(R), expected, rtol=1e-7)


def test_pulsar_arms_modulate_but_keep_radial_profile():
    src = sources.PulsarSpiral(arm_width_kpc=0.5)
    phi = np.linspace(-np.pi, np.pi, 4001)[:-1]
    for R in (3.0, 6.0, 8.5, 12.0):
        pts = np.stack([R * np.cos(phi), R * np.sin(phi), np.zeros_like(phi)], axis=1)
        A = src.arm_factor(pts)
        assert A.mean() == pytest.approx(1.0, rel=1e-6)
    # across arm 1 at R = 8.5 kpc: Gaussian in the perpendicular distance R δφ sin ψ, width 0.5 kpc,
    # peak A = (2π/4) / (√(2π) σ_φ), σ_φ = w / (R sin ψ) (the other arms are > 1 rad away)
    R, k, w = 8.5, 4.25, 0.5
    sin_psi = 1 / np.sqrt(1 + k * k)
    th = k * np.log(R / 3.48)
    dphi = np.array([0.0, 0.1, 0.2, 0.3])
    pts = np.stack([R * np.cos(th + dphi), R * np.sin(th + dphi), np.zeros(4)], axis=1)
    A = src.arm_factor(pts)
    sigma_phi = w / (R * sin_psi)
    assert A[0] == pytest.approx((np.pi / 2) / (np.sqrt(2 * np.pi) * sigma_phi), rel=1e-3)
    np.testing.assert_allclose(A / A[0], np.exp(-(R * dphi * sin_psi) ** 2 / (2 * w * w)), rtol=2e-3)


def test_sigma_pp_inel_kafexhiu():
    # TOTEM (2013) at √s = 7 TeV: σ_inel = 73.2 ± 1.3 mb; lab kinetic energy T = (s − 4 m²)/(2 m)
    m = 0.93827208816
    s = 7000.0 ** 2
    T = (s - 4 * m * m) / (2 * m)
    assert sigma_pp_inel_mb(T) == pytest.approx(73.2, abs=1.5)
    # PDG: σ_inel ≈ 30 mb around p_lab ~ 10–100 GeV (flat region)
    assert 28.0 < sigma_pp_inel_mb(30.0) < 32.0
    assert sigma_pp_inel_mb(0.9 * T_TH_GEV) == 0.0
    assert T_TH_GEV == pytest.approx(0.2797, abs=2e-4)


def test_pp_loss_time():
    # n_gas = 1 cm^-3, 100 GeV: τ = 1/(c σ n) ≈ 1/(3e10 · 3.4e-26) ≈ 1e15 s ≈ 30 Myr
    losses = PPLosses(lambda xyz: np.ones(len(xyz)))
    rate = losses.rate_per_s(np.zeros((1, 3)), 100.0)[0]
    sigma = sigma_pp_inel_mb(100.0) * 1e-27
    beta = np.sqrt(1 - 1 / (1 + 100.0 / 0.93827208816) ** 2)
    assert rate == pytest.approx(2.99792458e10 * beta * sigma, rel=1e-12)
    assert 20 < 1 / rate / 3.15576e13 < 40  # Myr


def test_point_source_deposit_and_registry():
    grid = Grid((-1, 1, 4), (-1, 1, 4), (-1, 1, 4))
    p = sources.source_from_name("point", center_kpc=(0.1, -0.7, 0.9))
    dep = p.deposit(grid)
    assert dep.sum() * grid.cell_volume_kpc3 == pytest.approx(1.0)
    assert dep[2, 0, 3] > 0
    with pytest.raises(ValueError, match="unknown source distribution"):
        sources.source_from_name("nonsense")


class _TiltedDisc(sources.CaseBhattacharya):
    """A subclass whose density is not planar(x, y)·vertical(z): must take the general 3D quadrature."""

    def _density(self, xyz):
        return super()._density(xyz) * (1.0 + 0.5 * np.tanh(xyz[:, 0] * xyz[:, 2]))


@pytest.mark.parametrize("src", [sources.PulsarSpiral(), sources.PulsarSpiral(radial_measure="crpropa"),
                                 sources.Lorimer2006(), _TiltedDisc()])
def test_cell_averages_product_rule_matches_3d_quadrature(src):
    # planar(x, y)·vertical(z) sources use a 2D × 1D Gauss rule: the same numbers as the 3D rule
    grid = Grid((-12, 12, 24), (-12, 12, 20), (-2, 2, 10))
    fast = sources.cell_averages(src, grid, points_per_axis=2)
    direct = sources._quadrature_cell_averages(src, grid, 2, None, 10 ** 6)
    np.testing.assert_allclose(fast, direct, rtol=1e-12, atol=0.0)
    assert sources._z_separable(src) == (not isinstance(src, _TiltedDisc))
    mask = np.zeros(grid.shape, dtype=bool)
    mask[::2] = True
    masked = sources.cell_averages(src, grid, points_per_axis=2, mask=mask)
    assert np.all(masked[~mask] == 0.0) and np.array_equal(masked[mask], fast[mask])


def _crpropa_radii(n: int, rng, beta=3.53, r_earth=8.5, r_max=22.0, fr_weight=lambda r: r) -> np.ndarray:
    """R̃ drawn as CRPropa 3's SourcePulsarDistribution draws it (src/Source.cpp): uniform R̃ in
    [0, rMax], accepted if U·1.1·frMax ≤ fr(R̃), fr = r (r/rEarth)² exp(−β(r−rEarth)/rEarth)."""
    fr = lambda r: fr_weight(r) * (r / r_earth) ** 2 * np.exp(-beta * (r - r_earth) / r_earth)  # noqa: E731
    fr_max = fr(np.linspace(0.0, r_max, 100001)).max()
    out = []
    while sum(len(o) for o in out) < n:
        r = rng.uniform(0.0, r_max, 4 * n)
        out.append(r[rng.uniform(0.0, 1.1 * fr_max, r.size) <= fr(r)])
    return np.concatenate(out)[:n]


def test_crpropa_radial_measure_matches_crpropa_sampler(rng):
    # histogram of CRPropa's sampled radii against the model's 2πR Σ(R) integrated over each bin
    n = 200_000
    edges = np.linspace(0.0, 22.0, 45)
    R = np.linspace(0.0, 22.0, 220001)
    src = sources.PulsarSpiral(radial_measure="crpropa")
    pdf = 2 * np.pi * R * src.surface_density(R)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(R))])
    assert cdf[-1] == pytest.approx(1.0, rel=1e-6)          # normalised over CRPropa's R ≤ 22 kpc
    expected = n * np.diff(np.interp(edges, R, cdf))

    def chi2_per_bin(radii):
        counts = np.histogram(radii, edges)[0]
        keep = expected > 20
        return float(np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep]) / keep.sum())

    assert chi2_per_bin(_crpropa_radii(n, rng)) < 1.6
    # the earlier reading of CRPropa (acceptance ∝ Σ without the Jacobian R) is far off this histogram
    assert chi2_per_bin(_crpropa_radii(n, rng, fr_weight=lambda r: np.ones_like(r))) > 50
