"""Gas models against CRPropa 3's reference values, component bookkeeping, cube interpolation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fpgal.emission import gas as G

REFERENCE_VALUES = Path(__file__).resolve().parents[1] / "data" / "gas" / "reference_values.txt"

M3_PER_CM3 = 1.0e6


def _reference_rows():
    """CRPropa 3's gas reference values (tests/data/gas/reference_values.txt)."""
    rows = []
    for line in REFERENCE_VALUES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m, x, y, z, q, v = line.split()
            rows.append((m, np.array([[float(x), float(y), float(z)]]), q, float(v)))
    return rows


def test_fpgal_gas_alias_is_this_module():
    import fpgal
    assert fpgal.gas is G


@pytest.mark.parametrize("row", _reference_rows(), ids=lambda r: f"{r[0]}-{r[2]}-{r[1][0].tolist()}")
def test_reference_values(row):
    model, p, quantity, value = row
    R = float(np.hypot(p[0, 0], p[0, 1]))
    if model == "Cordes":
        pytest.skip("Cordes (free-electron model) is not an fpgal gas model")
    if model == "Nakanishi":
        m = G.NakanishiSofue()
        got = {"HI_planedensity": m.HI_planedensity_cm3(R) * M3_PER_CM3,
               "H2_planedensity": m.H2_planedensity_cm3(R) * M3_PER_CM3,
               "HI_scaleheight_kpc": m.HI_scaleheight_kpc(R), "H2_scaleheight_kpc": m.H2_scaleheight_kpc(R)}
    else:
        m = G.Ferriere()
        got = {}
    got.update({"HI": m.HI(p)[0] * M3_PER_CM3, "H2": m.H2(p)[0] * M3_PER_CM3, "HII": m.HII(p)[0] * M3_PER_CM3,
                "nucleon": m(p)[0] * M3_PER_CM3})
    # CRPropa's tolerances: 1 m^-3 per component, 2 m^-3 for sums, 0.1 pc for scale heights
    tol = 1e-4 if quantity.endswith("_kpc") else (2.0 if quantity == "nucleon" else 1.0)
    assert float(got[quantity]) == pytest.approx(value, abs=tol)


def test_nucleon_counting_and_uniform():
    p = np.array([[1.0, 2.0, 0.1], [-8.5, 0.0, 0.0]])
    for comp in ("HI", "H2", "HII"):
        u = G.Uniform(0.7, component=comp)
        np.testing.assert_allclose(u(p), 0.7)
        c = u.components(p)
        np.testing.assert_allclose(c["HI"] + 2 * c["H2"] + c["HII"], 0.7)
    m = G.Ferriere()
    c = m.components(p)
    np.testing.assert_allclose(m(p), c["HI"] + 2 * c["H2"] + c["HII"])


def test_ferriere_frames_match_crpropa():
    p = np.array([[0.06, -0.06, -0.02]])     # CRPropa testDensity: CMZ and disk frame of this point (pc)
    np.testing.assert_allclose(G.Ferriere.cmz_frame_pc(p)[0, :2], [5.9767, 12.8171], atol=1e-4)
    np.testing.assert_allclose(G.Ferriere.disk_frame_pc(p)[0], [11.0660, 82.5860, -25.6338], atol=1e-4)


def test_gascube_trilinear_is_exact_for_linear_fields(tmp_path):
    f = lambda x: 1.0 + 0.1 * x[:, 0] - 0.2 * x[:, 1] + 0.3 * x[:, 2]   # noqa: E731
    cube = G.GasCube.from_model(f, (-2, -2, -1), (2, 2, 1), (8, 8, 4))
    cube = G.GasCube.load(cube.save(tmp_path / "cube.h5"))
    pts = np.random.default_rng(3).uniform([-1.7, -1.7, -0.7], [1.7, 1.7, 0.7], (200, 3))
    np.testing.assert_allclose(cube(pts), f(pts), rtol=1e-12)
    assert cube(np.array([[5.0, 0.0, 0.0]]))[0] == 0.0               # outside the cube
    assert isinstance(G.gas_from_name(f"cube:{tmp_path / 'cube.h5'}"), G.GasCube)


def test_registry_and_errors():
    assert isinstance(G.gas_from_name("nakanishi-sofue", sun_distance_kpc=8.3), G.NakanishiSofue)
    assert G.gas_from_name("ferriere", sun_distance_kpc=8.3).R_sun_kpc == 8.3
    s = G.gas_from_name("uniform+ferriere")
    p = np.array([[3.0, 4.0, 0.0]])
    np.testing.assert_allclose(s(p), 1.0 + G.Ferriere()(p))
    with pytest.raises(ValueError, match="unknown gas model 'hermes'"):
        G.gas_from_name("hermes")
    with pytest.raises(ValueError, match="n_H_per_cm3=-1"):
        G.Uniform(-1)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        G.NakanishiSofue()(np.zeros((4, 2)))
