"""γγ absorption on the CMB against a direct double integral over photon energy and angle."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import dblquad

from fpgal.emission import absorption as A


def _direct_inverse_mfp_cm(E_GeV: float) -> float:
    """1/λ = ∫ dε n(ε) ∫ dμ (1−μ)/2 σ(s = 2Eε(1−μ)) with the Planck n(ε), no change of variables."""
    kT = A.k_B_GeV_K * A.T_CMB_K
    me2 = A.m_e_GeV ** 2

    def f(mu, lnu):
        u = np.exp(lnu)
        eps = u * kT
        x = E_GeV * eps * (1 - mu) / (2 * me2)
        n = eps ** 2 / (np.pi ** 2 * A.hbar_c_GeV_cm ** 3 * np.expm1(u))
        return n * eps * 0.5 * (1 - mu) * A.sigma_bw_cm2(np.array([x]))[0]

    # threshold: (1 − μ) > 2 m²/(E ε)
    mu_max = lambda lnu: max(-1.0, min(1.0, 1.0 - 2 * me2 / (E_GeV * np.exp(lnu) * kT)))   # noqa: E731
    val, _ = dblquad(f, np.log(1e-3), np.log(40.0), lambda lnu: -1.0, mu_max, epsrel=1e-6)
    return val


def test_breit_wheeler_peak():
    x = np.linspace(1.01, 10, 2000)
    s = A.sigma_bw_cm2(x)
    sigma_T = 8 * np.pi / 3 * A.r_e_cm ** 2
    assert s.max() / sigma_T == pytest.approx(0.2556, abs=1e-3)        # known maximum ≈ 1.70e-25 cm²
    assert x[np.argmax(s)] == pytest.approx(1.97, abs=0.05)            # at s ≈ 7.9 m_e²


@pytest.mark.parametrize("E_GeV", [3e5, 2.2e6, 3e7])
def test_mean_free_path_matches_direct_integral(E_GeV):
    assert A.cmb_inverse_mfp_cm([E_GeV])[0] == pytest.approx(_direct_inverse_mfp_cm(E_GeV), rel=1e-2)


def test_minimum_of_attenuation_length():
    E = np.geomspace(5e5, 1e7, 400)
    lam = A.cmb_attenuation_length_kpc(E)
    i = np.argmin(lam)
    # the minimum sits at E ≈ 2.2 PeV (Vernetto & Lipari 2016); value ≈ 7 kpc
    assert E[i] == pytest.approx(2.2e6, rel=0.1)
    assert 6.5 < lam[i] < 7.6
    assert np.isinf(A.cmb_attenuation_length_kpc([1e4])[0])            # no absorption at 10 TeV
