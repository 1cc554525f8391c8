"""Default CG + GAMG settings on a realistic anisotropic problem, and the MPI processor layout."""
import pytest

from fpgal.transport.solver import processor_layout

pytest.importorskip("petsc4py")


@pytest.mark.parametrize("shape, ranks, expected", [
    ((160, 160, 32), 1, (1, 1, 1)),
    ((160, 160, 32), 2, (1, 1, 2)),
    ((160, 160, 32), 8, (1, 1, 8)),
    ((160, 160, 32), 16, (-1, -1, 8)),   # slabs stay ≥ 4 cells thick; PETSc spreads the rest over x, y
    ((80, 80, 16), 6, (-1, -1, 3)),      # 6 = 2·3: slabs of 5-6 layers, 2 ranks across x-y
    ((17, 13, 9), 2, (1, 1, 2)),
    ((17, 13, 6), 2, (-1, -1, 1)),       # too thin to cut along z
])
def test_processor_layout_cuts_z_first(shape, ranks, expected):
    got = processor_layout(shape, ranks)
    assert got == expected
    if expected[2] > 1:
        assert shape[2] // expected[2] >= 4


def test_uf23_eps_1e3_iterations_on_half_kpc_mesh():
    """ε = 1e-3 with UF23 base on the 0.5 kpc Milky Way mesh: the default preconditioner needs
    ≤ 31 CG iterations to rtol 1e-10 (26 measured; the Chebyshev(3)/SSOR(ω = 1.5), threshold-0.01
    default before it needed 42, the first Chebyshev(2)/SOR, threshold-0.02 default 54 and PETSc's
    plain GAMG defaults 202)."""
    import fpgal
    from fpgal.diffusion import BrokenPowerLaw, FieldAligned
    from fpgal.fields import UF23
    from fpgal.sources import PulsarSpiral
    from fpgal.transport import solve_steady
    grid = fpgal.Grid.from_mesh("milkyway-0.5kpc")
    cr = solve_steady(grid, FieldAligned(UF23("base"), 1e-3, BrokenPowerLaw(3e28)), PulsarSpiral(),
                      lambda E: 1.0, boundary=fpgal.Cylinder(20, 4))
    its = cr.meta["iterations"]
    print("iterations", its, "true relative residual", cr.meta["true_relative_residual"])
    assert its <= 31
    assert cr.meta["true_relative_residual"] < 1e-8
