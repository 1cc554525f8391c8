"""`fpgal benchmark crpropa`: sampler, units, binning, an analytic mean residence time, CLI.

Analytic case (isotropic D, cylinder r < R, |z| < H, absorbing): the mean residence time of a particle
born at (r, z) solves D ∇²τ = −1, τ = 0 on the walls:

    τ(r, z) = (1/D) [ (H² − z²)/2 − Σ_n c_n cos(k_n z) I₀(k_n r)/I₀(k_n R) ],
    k_n = (2n+1)π/(2H),  c_n = 2(−1)ⁿ/(H k_n³)

(the slab solution minus the harmonic functions cos(k z) I₀(k r) that cancel it on r = R; c_n are the
cosine-series coefficients of (H² − z²)/2 on [−H, H]). For a source density q, T = ∫ q τ dV.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import i0e

import fpgal
from fpgal import units
from fpgal.studies import crpropa_benchmark as bm
from fpgal.studies.crpropa_source import (CRPropaPulsarSamples, R_MAX_KPC, _f_r, _radii, overlap_fractions,
                                           rebin_content, sample_crpropa_pulsars)
from fpgal.cli import main
from fpgal.diffusion import CRPropaLaw

D_CM2_S = 1.0e29
R_CYL, H_CYL = 4.0, 1.0


def tau_cylinder_s(r_kpc, z_kpc, R=R_CYL, H=H_CYL, D=D_CM2_S, n_terms=60) -> np.ndarray:
    """Mean exit time [s] from (r, z) of isotropic diffusion in the absorbing cylinder (module docstring)."""
    n = np.arange(n_terms)
    k = (2 * n + 1) * np.pi / (2 * H)
    c = 2 * (-1.0) ** n / (H * k ** 3)
    r, z = np.asarray(r_kpc, float)[..., None], np.asarray(z_kpc, float)[..., None]
    bessel = i0e(k * r) / i0e(k * R) * np.exp(k * (r - R))
    tau_kpc2 = (H ** 2 - z[..., 0] ** 2) / 2 - np.sum(c * np.cos(k * z) * bessel, axis=-1)
    return tau_kpc2 * units.kpc_cm ** 2 / D


def _quadrature_mean(points_1d, weights_1d, f) -> float:
    X, Y, Z = np.meshgrid(points_1d, points_1d, points_1d, indexing="ij")
    W = weights_1d[:, None, None] * weights_1d[None, :, None] * weights_1d[None, None, :]
    return float(np.sum(W * f(np.hypot(X, Y), Z)) / np.sum(W))


def _analytic_problem(source) -> bm.Problem:
    return bm.Problem(cfg=None, tensor=fpgal.diffusion.Isotropic(D_CM2_S), source=source,
                      boundary=fpgal.Cylinder(R_CYL, H_CYL), epsilon=1.0, E_GeV=1000.0, sun_kpc=(1.0, 0.0, 0.0))


def test_crpropa_law_value():
    law = CRPropaLaw()
    assert law(1000.0) == pytest.approx(3.8428e29, rel=1e-4)          # the value at 1 TV
    assert CRPropaLaw(2 * 6.1e28).scale == pytest.approx(2.0)
    assert law(4.0) == pytest.approx(6.1e28)


def _block_integral(values, n_fine, n_coarse, length):
    """∫ over each coarse cell of a step function with ``n_fine`` equal steps: both edge sets lie on the
    lattice of lcm(n_fine, n_coarse) equal cells, so repeating and summing blocks is exact."""
    m = np.lcm(n_fine, n_coarse)
    return np.repeat(values, m // n_fine).reshape(n_coarse, m // n_coarse).sum(axis=1) * length / m


def test_rebin_is_exact_on_non_nested_meshes():
    """Content of a separable step density a_i b_j c_k on a 70×52×12 mesh (not nested in the 0.5 kpc
    cells) rebinned by volume overlap equals the exact integral over each 0.5 kpc cell (common-lattice
    sums); the three axes carry different profiles, so the [ix, iy, iz] order is checked too."""
    rng = np.random.default_rng(3)
    a, b, c = rng.uniform(1, 2, 70), rng.uniform(1, 2, 52), rng.uniform(1, 2, 12)
    fine = (np.linspace(-20, 20, 71), np.linspace(-20, 20, 53), np.linspace(-4, 4, 13))
    vol = (40 / 70) * (40 / 52) * (8 / 12)
    out = rebin_content(a[:, None, None] * b[None, :, None] * c[None, None, :] * vol, fine, bm.HIST_EDGES_KPC)
    A, B, C = _block_integral(a, 70, 80, 40.0), _block_integral(b, 52, 80, 40.0), _block_integral(c, 12, 16, 8.0)
    assert out.shape == bm.HIST_SHAPE
    np.testing.assert_allclose(out, A[:, None, None] * B[None, :, None] * C[None, None, :], rtol=1e-12)
    assert out.sum() == pytest.approx(a.sum() * b.sum() * c.sum() * vol, rel=1e-12)
    uniform = rebin_content(np.full((70, 52, 12), 2.0e10 * vol), fine, bm.HIST_EDGES_KPC)
    np.testing.assert_allclose(uniform, 2.0e10 * 0.125, rtol=1e-12)    # 2e10 s kpc⁻³ → s per 0.5 kpc cell
    np.testing.assert_allclose(overlap_fractions(np.array([0.0, 0.3, 0.7]), np.array([0.0, 0.5, 1.0])),
                               [[1.0, 0.0], [0.5, 0.5]])


def test_sun_cube_of_uniform_density():
    hist = np.full(bm.HIST_SHAPE, 0.125 * 3.0e11)       # 3e11 s kpc^-3 in every 0.125 kpc³ cell
    assert bm.sun_cube_s_kpc3(hist) == pytest.approx(3.0e11, rel=1e-12)
    hist[22:24, 39:41, 7:9] *= 2.0                      # the 8 cells around (−8.5, 0, 0)
    assert bm.sun_cube_s_kpc3(hist) == pytest.approx(6.0e11, rel=1e-12)


def test_sampler_laws():
    """R̃ and |z| against their analytic CDFs (Kolmogorov–Smirnov), and the full sampler against a
    direct simulation of CRPropa's accept–reject steps (2-D histogram, χ²/dof at the statistical level)."""
    from scipy import stats
    rng = np.random.default_rng(7)
    R = _radii(40000, rng)
    grid_R = np.linspace(0, R_MAX_KPC, 20001)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (_f_r(grid_R[1:]) + _f_r(grid_R[:-1])) * np.diff(grid_R))])
    assert stats.kstest(R, lambda r: np.interp(r, grid_R, cdf / cdf[-1])).pvalue > 1e-3
    x = sample_crpropa_pulsars(40000, rng)
    zcdf = lambda a: (1 - np.exp(-a / 0.3)) / (1 - np.exp(-5 / 0.3))  # noqa: E731
    assert stats.kstest(np.abs(x[:, 2]), zcdf).pvalue > 1e-3
    ref = _crpropa_direct(40000, np.random.default_rng(8))
    edges = np.linspace(-15, 15, 16)
    a = np.histogram2d(x[:, 0], x[:, 1], [edges, edges])[0]
    b = np.histogram2d(ref[:, 0], ref[:, 1], [edges, edges])[0]
    use = (a + b) > 20
    chi2 = np.sum((a[use] - b[use]) ** 2 / (a[use] + b[use]))
    assert chi2 / use.sum() < 1.4, (chi2, use.sum())


def _crpropa_direct(n, rng):
    """CRPropa's steps literally: R̃ ~ U(0, 22) accepted if U·1.1·f_max ≤ f_r, z ~ U(−5, 5) accepted if
    U/z_g ≤ exp(−|z|/z_g)/z_g, arm = randInt(3) ∈ {0..3}, Gaussian R blur, uniform azimuthal blur."""
    f_max = _f_r(np.array(3 * 8.5 / 3.53))
    R = rng.uniform(0, 22, 8 * n)
    R = R[rng.uniform(0, 1, 8 * n) * f_max * 1.1 <= _f_r(R)][:n]
    z = rng.uniform(-5, 5, 40 * n)
    z = z[rng.uniform(0, 1, 40 * n) <= np.exp(-np.abs(z) / 0.3)][:n]
    k = np.array([4.25, 4.25, 4.89, 4.89]); r0 = np.array([3.48, 3.48, 4.9, 4.9])
    t0 = np.array([0.0, 3.14, 2.52, -0.62])
    i = rng.integers(0, 4, n)
    theta = k[i] * np.log(R / r0[i]) + t0[i]
    Rb = rng.normal(R, 0.07 * R)
    phi = theta + (rng.uniform(0, 1, n) - 0.5) * 2 * np.pi * np.exp(-0.35 * R)
    return np.stack([Rb * np.cos(phi), Rb * np.sin(phi), z], axis=1)


def test_source_histogram_not_renormalised():
    src = CRPropaPulsarSamples(n_samples=200000, seed=3)
    grid = bm.histogram_grid(1000.0)
    q = src.deposit(grid)
    frac = q.sum() * grid.cell_volume_kpc3
    # samples beyond R = 20 kpc (R̃ up to 22 kpc plus the 7 % blur) are lost, not redistributed
    assert 0.975 < frac < 0.99
    np.testing.assert_array_equal(q, CRPropaPulsarSamples(n_samples=200000, seed=3).deposit(grid))


def test_grid_mean_residence_matches_analytic_cylinder():
    """Isotropic D = 1e29 cm²/s, cylinder R = 4, H = 1 kpc, Gaussian source σ = 0.2 kpc at the centre,
    0.1 kpc mesh: Σ histogram = T = ∫ q τ dV within 1 % (Gauss–Hermite quadrature of the exact τ)."""
    pytest.importorskip("petsc4py")
    sigma = 0.2
    src = fpgal.sources.GaussianBlob((0.0, 0.0, 0.0), sigma)
    hist, info = bm.run_grid(_analytic_problem(src), mesh_kpc=0.1)
    t, w = np.polynomial.hermite.hermgauss(16)
    T = _quadrature_mean(np.sqrt(2) * sigma * t, w, tau_cylinder_s)
    slab = (H_CYL ** 2 - sigma ** 2) / 2 * units.kpc_cm ** 2 / D_CM2_S  # the radial wall removes ~1 %
    assert 0.97 * slab < T < slab
    assert hist.sum() == pytest.approx(T, rel=0.01)
    # the density at the centre is positive and the histogram is mirror-symmetric in z
    np.testing.assert_allclose(hist, hist[:, :, ::-1], rtol=1e-6, atol=1e-12 * hist.max())


def test_sde_mean_residence_matches_analytic_cylinder():
    """Itô SDE tallied on the 0.5 kpc histogram cells, source uniform in the cube [−0.5, 0.5]³ (the 8
    cells around the origin, exact cell averages): T = mean of τ over the cube (Gauss–Legendre), within
    4σ of the SDE's batch error plus 1 % for the step (rms step 0.1 kpc = H/10)."""
    src = fpgal.sources.Uniform((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))
    hist, err, info = bm.run_sde(_analytic_problem(src), "ito", 1200, seed=11, step_kpc=0.1)
    t, w = np.polynomial.legendre.leggauss(12)
    T = _quadrature_mean(0.5 * t, w, tau_cylinder_s) / units.Myr_s
    got, sig = hist.sum() / units.Myr_s, info["mean_residence_err_Myr"]
    assert 0.005 * T < sig < 0.06 * T                  # ≈ 0.75/√1200 = 2 % expected
    assert abs(got - T) < 4 * sig + 0.01 * T, (got, T, sig)
    assert info["steps"] > 1200 * 50 and err.shape == bm.HIST_SHAPE


def test_compare_numbers():
    rng = np.random.default_rng(1)
    ref = rng.uniform(1e9, 2e9, bm.HIST_SHAPE)
    c = bm.compare_histograms(1.1 * ref, ref, ref_particles=64000)
    assert c["residence_ratio"] == pytest.approx(1.1) and c["sun_cube_1kpc_ratio"] == pytest.approx(1.1)
    assert c["cell_ratio_percentiles"]["p50"] == pytest.approx(1.1)
    col = ref.sum(axis=2)
    n_c = 64000 * col / ref.sum()                      # Poisson-like: χ² = Σ (0.1 C)² n_c / C² = 0.01 Σ n_c
    assert 1000 < c["dof_columns"] < 6400
    assert c["chi2_columns"] == pytest.approx(0.01 * n_c[n_c >= 10].sum(), rel=1e-10)
    same = bm.compare_histograms(ref, ref, ref_err=0.05 * ref)
    assert same["chi2_columns"] == 0.0 and same["dof_columns"] == 80 * 80
    # SDE-like: ours has an empty column and zero errors there, the reference is noise-free
    ours, err = 1.1 * ref, 0.01 * ref
    ours[3, 4], err[3, 4] = 0.0, 0.0
    c = bm.compare_histograms(ours, ref, ours_err=err, ref_err=np.zeros_like(ref))
    assert c["dof_columns"] == 80 * 80 - 1
    expected = np.delete(((0.1 * col) ** 2 / (0.01 ** 2 * (ref ** 2).sum(axis=2))).ravel(), 3 * 80 + 4).sum()
    assert c["chi2_columns"] == pytest.approx(expected, rel=1e-10)


TINY = """
[grid]
mesh = "milkyway-1kpc"
n_E = 1
E_min_GeV = 1000.0
[field]
model = "uf23:base"
[diffusion]
law = "crpropa"
D0_cm2_s = 6.1e28
epsilon = [0.1]
[source]
distribution = "crpropa-pulsar"
params = { n_samples = 20000, seed = 2 }
[boundary]
type = "cylinder"
[sde]
n_particles = 40
seed = 5
"""


@pytest.fixture
def tiny_config(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_cli_grid_outputs_and_compare_round_trip(tiny_config, tmp_path, capsys):
    pytest.importorskip("petsc4py")
    out = tmp_path / "g"
    assert main(["benchmark", "crpropa", "--method", "grid", "--mesh-kpc", "2", "--config", str(tiny_config),
                 "--out", str(out)]) == 0
    hist = np.load(out / "residence_s_per_cell.npy")
    assert hist.shape == (80, 80, 16) and hist.dtype == np.float64 and hist.flags["C_CONTIGUOUS"]
    s = json.loads((out / "summary.json").read_text())
    for key in ("mean_residence_Myr", "sun_sphere_s_kpc3", "sun_cube_1kpc_s_kpc3", "wall_s", "cpu_s"):
        assert np.isfinite(s[key]) and s[key] > 0, key
    assert s["mean_residence_Myr"] == pytest.approx(hist.sum() / units.Myr_s, rel=1e-12)
    assert 20 < s["mean_residence_Myr"] < 60                      # issue 13: 37 Myr on finer meshes
    assert s["D_par_cm2_s"] == pytest.approx(3.8428e29, rel=1e-4)
    # the disc (|z| < 0.5 kpc) holds more than the halo layer at 3 < |z| < 3.5 kpc: z is the last axis
    assert hist[:, :, 7:9].sum() > 3 * hist[:, :, [1, 14]].sum()
    out2 = tmp_path / "c"
    assert main(["benchmark", "crpropa", "--method", "grid", "--mesh-kpc", "2", "--config", str(tiny_config),
                 "--compare", str(out / "residence_s_per_cell.npy"), "--out", str(out2)]) == 0
    c = json.loads((out2 / "summary.json").read_text())["comparison"]
    assert c["residence_ratio"] == pytest.approx(1.0) and c["chi2_columns"] == pytest.approx(0.0, abs=1e-12)
    assert "chi2/dof" in capsys.readouterr().out


@pytest.mark.parametrize("method, n, step", [("ito", 400, 0.5), ("crpropa", 48, 1.0)])
def test_cli_sde_summary(tmp_path, method, n, step):
    """Both SDE modes on a vertical uniform field (D_zz = D∥, no drift, straight field lines): the mean
    residence is the slab value T = f_in ∫ q (H² − z²)/(2 D∥) = 6.09 Myr (f_in = 0.983 of the sources
    inside the cylinder, E[z²] ≈ 0.22 kpc² for the z_g = 0.3 kpc disc spread over 0.5 kpc cells)."""
    cfg = tmp_path / "vertical.toml"
    cfg.write_text(TINY.replace('model = "uf23:base"', 'model = "uniform"\nparams = { B_muG = [0.0, 0.0, 3.0] }'))
    out = tmp_path / "s"
    assert main(["benchmark", "crpropa", "--method", method, "--n-particles", str(n), "--step", str(step),
                 "--config", str(cfg), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_particles"] == n and s["steps"] > n * 4 / step ** 2 and s["cpu_s"] > 0
    assert s["rms_step_kpc"] == pytest.approx(step) and s["mode"] == method
    T = 0.983 * (16.0 - 0.22) / 2 * units.kpc_cm ** 2 / 3.8428e29 / units.Myr_s
    assert 0.01 * T < s["mean_residence_err_Myr"] < 0.15 * T
    assert abs(s["mean_residence_Myr"] - T) < 4 * s["mean_residence_err_Myr"] + 0.03 * step * T, \
        (s["mean_residence_Myr"], T)
    assert np.load(out / "residence_s_per_cell.npy").sum() / units.Myr_s == pytest.approx(s["mean_residence_Myr"])
    assert np.load(out / "residence_err_s_per_cell.npy").shape == (80, 80, 16)
    # the SDE's Richardson estimate (steps dτ, 2dτ), per injected particle like the histogram
    x, dx = s["sde_residence_extrapolated_Myr"], s["sde_residence_extrapolated_err_Myr"]
    assert abs(x - T) < 4 * dx + 0.03 * step * T, (x, dx, T)


def test_cli_errors(tiny_config, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["benchmark", "crpropa", "--method", "euler", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "'euler'" in capsys.readouterr().err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((40, 40, 8)))
    code = main(["benchmark", "crpropa", "--method", "grid", "--config", str(tiny_config), "--compare", str(bad),
                 "--out", str(tmp_path / "y")])
    err = capsys.readouterr().err
    assert code == 1 and "(40, 40, 8)" in err and "(80, 80, 16)" in err
    assert not (tmp_path / "y").exists()                      # checked before any work or output


def test_annulus_ratios_and_benchmark_figure(tmp_path):
    """Annulus column ratios: ×1.2 inside R < 3 kpc only is seen there and nowhere else; the error of a
    column is the linear z-sum of the cell errors, annuli combine columns in quadrature."""
    from fpgal.plots.benchmark import R_EDGES_KPC, annulus_ratios, plot_benchmark
    rng = np.random.default_rng(3)
    ref = rng.uniform(1.0, 2.0, bm.HIST_SHAPE)
    xc = 0.5 * (bm.HIST_EDGES_KPC[0][1:] + bm.HIST_EDGES_KPC[0][:-1])
    R = np.hypot(xc[:, None], xc[None, :])
    hist = ref * np.where(R < 3.0, 1.2, 1.0)[:, :, None]
    err = 0.01 * ref
    ratio, sigma = annulus_ratios(hist, ref, err, bm.HIST_EDGES_KPC)
    assert len(ratio) == len(R_EDGES_KPC) - 1
    assert ratio[0] == pytest.approx(1.2) and np.allclose(ratio[1:], 1.0)
    m = R < 3.0
    assert sigma[0] == pytest.approx(np.sqrt((err.sum(axis=2)[m] ** 2).sum()) / ref.sum(axis=2)[m].sum())
    png = plot_benchmark({"grid": (ref, None), "sde": (hist, err)}, bm.HIST_EDGES_KPC, tmp_path / "f.png", "t",
                         {"grid": (1.0, None), "sde": (1.1, 0.1)})
    assert png.stat().st_size > 10_000
