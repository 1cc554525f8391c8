"""Neutrinos: per-flavour all-sky flux from all-flavour maps and the ratio to IceCube's KRA-γ fits."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.emission.skydata import load_icecube_galactic_plane
from fpgal.emission.nuclei import icecube_ratio, per_flavour_all_sky_flux


def test_per_flavour_flux_and_icecube_ratio():
    maps = np.full((2, 12), 3.0)               # I_all = 3 everywhere → per flavour all-sky F = 4π
    np.testing.assert_allclose(per_flavour_all_sky_flux(maps), 4 * np.pi)
    ref = load_icecube_galactic_plane("kra5")
    E = np.geomspace(1e3, 1e6, 7)
    E2F = 2.0 * np.exp(np.interp(np.log(E), np.log(ref.E_GeV), np.log(ref.E2F)))
    r = icecube_ratio(E, E2F, ref, [3.0e4, 1.0e5])
    assert r["30000"] == pytest.approx(2.0, rel=0.02) and r["100000"] == pytest.approx(2.0, rel=0.02)
    assert r["30000_lo"] < r["30000"] < r["30000_hi"]
    with pytest.raises(ValueError, match="outside the model range"):
        icecube_ratio(E, E2F, ref, [1e7])
    assert icecube_ratio(ref.E_GeV, ref.E2F, ref, [1.0e5])["100000"] == pytest.approx(1.0, rel=1e-12)
