"""Species kinematics (hand values) and the He density as the proton Green's function re-labelled in rigidity."""
import numpy as np
import pytest

import fpgal
from fpgal.diffusion import BrokenPowerLaw, FieldAligned
from fpgal.relabel import relabel_in_rigidity
from fpgal.species import SPECIES, Species, species_info
from fpgal.spectra import SmoothBrokenPowerLaw

HE, P = SPECIES["He"], SPECIES["H"]


def test_helium_conversions_against_hand_values():
    # hand values (30-digit decimal arithmetic), m_He = 3.7273794066 GeV, Z = 2, A = 4
    # R = 10 GV: p = 20 GeV, E = √(400 + m²) − m = 16.61698977115397 GeV, dR/dE = (E + m)/(2 p) = 0.5086092294438
    assert HE.kinetic_from_rigidity_GeV(10.0) == pytest.approx(16.61698977115397, rel=1e-13)
    assert HE.jacobian(16.61698977115397, "rigidity") == pytest.approx(0.5086092294438493, rel=1e-12)
    assert HE.from_kinetic(16.61698977115397, "kinetic_per_nucleon") == pytest.approx(4.154247442788493, rel=1e-13)
    # E_n = 10 GeV/n: E = 40 GeV, E_tot = 43.7273794066 GeV, p = 43.56822641017190 GeV/c, R = 21.78411320508595 GV
    E = HE.to_kinetic(10.0, "kinetic_per_nucleon")
    assert E == pytest.approx(40.0, rel=1e-15)
    assert HE.from_kinetic(E, "total") == pytest.approx(43.7273794066, rel=1e-15)
    assert HE.from_kinetic(E, "momentum") == pytest.approx(43.56822641017190, rel=1e-13)
    assert HE.from_kinetic(E, "rigidity") == pytest.approx(21.78411320508595, rel=1e-13)
    assert HE.jacobian(E, "rigidity") == pytest.approx(0.5018264800927373, rel=1e-12)
    assert HE.jacobian(E, "kinetic_per_nucleon") == pytest.approx(0.25)
    # E_tot = 1 PeV: E = 999996.2726205934 GeV, R = 499999.9999965267 GV
    E = HE.to_kinetic(1.0e6, "total")
    assert E == pytest.approx(999996.2726205934, rel=1e-15)
    assert HE.rigidity_GV(E) == pytest.approx(499999.9999965267, rel=1e-13)
    # the same rigidity, 10 GV: proton E = 9.105649183505769 GeV, helium 16.61698977115397 GeV
    assert P.same_rigidity_energy_GeV(9.105649183505769, HE) == pytest.approx(16.61698977115397, rel=1e-12)


def test_conversions_round_trip_and_jacobians_match_finite_differences():
    E = np.geomspace(0.01, 1e7, 31)
    for sp in (P, HE):
        for var in ("kinetic", "kinetic_per_nucleon", "total", "momentum", "rigidity"):
            x = sp.from_kinetic(E, var)
            np.testing.assert_allclose(sp.to_kinetic(x, var), E, rtol=1e-12)
            h = 1e-6 * E
            fd = (sp.from_kinetic(E + h, var) - sp.from_kinetic(E - h, var)) / (2 * h)
            np.testing.assert_allclose(sp.jacobian(E, var), fd, rtol=1e-7)


def test_crdata_reads_helium_with_the_same_species():
    from fpgal.analysis import crdata
    assert crdata.SPECIES["He"] is HE and crdata.species_info("He") is HE
    d = crdata.load_experiment("CREAM", species="He")       # per nucleon table: E = 4 E_n, J = J_n / 4
    np.testing.assert_allclose(d.E_GeV, 4.0 * d.x_raw, rtol=1e-15)
    assert species_info("helium") is HE and species_info("p") is P


def test_bad_species_inputs_raise():
    with pytest.raises(ValueError, match="CR species 'Li'"):
        species_info("Li")
    with pytest.raises(ValueError, match="expected an integer >= 1"):
        Species("X", 0, 1, 1.0)
    with pytest.raises(ValueError, match="below the rest energy"):
        HE.to_kinetic(1.0, "total")
    with pytest.raises(ValueError, match="energy variable 'per_gram'"):
        HE.from_kinetic(1.0, "per_gram")
    with pytest.raises(ValueError, match="not a kinetic energy"):
        HE.rigidity_GV(-1.0)


def _setup(E):
    grid = fpgal.Grid((-3.0, 3.0, 10), (-3.0, 3.0, 10), (-1.5, 1.5, 6), E)

    def field(xyz):
        xyz = np.asarray(xyz, dtype=float)
        B = np.zeros_like(xyz)
        B[:, 0], B[:, 1], B[:, 2] = 1.0 + 0.3 * xyz[:, 1], 0.5 + 0.2 * xyz[:, 0], 0.1
        return B

    def source(xyz):
        xyz = np.asarray(xyz, dtype=float)
        return np.exp(-((xyz[:, 0] - 0.5) ** 2 + xyz[:, 1] ** 2 + 4 * xyz[:, 2] ** 2))

    return grid, field, source


class _RigidityTensor:
    """The proton tensor evaluated at equal rigidity, D_He(x, E_He) = D_p(x, E_p(R(E_He))); not separable,
    so the solver does one independent solve per helium energy."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __call__(self, xyz, E_GeV):
        return self.tensor(xyz, float(HE.same_rigidity_energy_GeV(E_GeV, P)))


def test_helium_greens_function_equals_the_proton_one_at_equal_rigidity():
    """A direct helium solve (per-energy, D at equal rigidity) equals the re-labelled proton solution."""
    E_p = np.geomspace(10.0, 1.0e5, 5)
    grid, field, source = _setup(E_p)
    tensor = FieldAligned(field, 0.1, BrokenPowerLaw(3e28))
    S_ref = SmoothBrokenPowerLaw(Q0=1.0, p_br_GeV=500.0, alpha1=-2.4, alpha2=-2.2, w=0.2)
    cr_p = fpgal.solve_steady(grid, tensor, source, S_ref, boundary=fpgal.Box(), rtol=1e-12)
    assert cr_p.is_factorized
    Q_He = SmoothBrokenPowerLaw(Q0=0.1, p_br_GeV=1200.0, alpha1=-2.3, alpha2=-2.05, w=0.3, mass_GeV=HE.mass_GeV)
    cr_he = relabel_in_rigidity(cr_p, S_ref, Q_He, "He")
    np.testing.assert_allclose(cr_he.E_GeV, P.same_rigidity_energy_GeV(E_p, HE), rtol=1e-14)
    assert cr_he.mass_GeV == HE.mass_GeV and cr_he.is_factorized
    direct = fpgal.solve_steady(grid.with_energies(cr_he.E_GeV), _RigidityTensor(tensor), source, Q_He,
                                boundary=fpgal.Box(), rtol=1e-12)
    assert not direct.is_factorized
    np.testing.assert_allclose(cr_he.density, direct.density, rtol=1e-7, atol=1e-9 * np.abs(direct.density).max())
    # Green's functions per unit injection at equal rigidity agree, and differ at equal kinetic energy
    g_he = cr_he.local_spectrum((0.0, 0.0, 0.0), 0.5) / Q_He(cr_he.E_GeV)
    g_p = cr_p.local_spectrum((0.0, 0.0, 0.0), 0.5) / S_ref(E_p)
    np.testing.assert_allclose(g_he, g_p, rtol=1e-12)
    assert not np.allclose(np.interp(np.log(E_p[1:-1]), np.log(cr_he.E_GeV), g_he), g_p[1:-1], rtol=0.05)


def test_relabelling_refuses_solutions_with_losses():
    E = np.geomspace(10.0, 1e3, 3)
    grid = fpgal.Grid((-1, 1, 2), (-1, 1, 2), (-1, 1, 2), E)
    cr = fpgal.CRDensity(grid, np.ones((3, 2, 2, 2)), meta={"losses": "PPLosses(...)"})
    with pytest.raises(ValueError, match="pure diffusion only"):
        relabel_in_rigidity(cr, lambda E: np.ones_like(E), lambda E: np.ones_like(E), "He")
