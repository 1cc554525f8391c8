"""Helper for test_transport_mpi.py: solve a small anisotropic problem and save the result (rank 0).

Run: mpirun -n 2 .venv/bin/python tests/transport/_mpi_case.py out.npz
"""
import sys

import numpy as np

from fpgal.boundary import Cylinder
from fpgal.diffusion import BrokenPowerLaw, FieldAligned
from fpgal.grid import Grid
from fpgal.sources import GaussianBlob
from fpgal.transport import solve_steady
from fpgal.transport.losses import PPLosses


class Spiral:
    """Logarithmic spiral field (pitch 12°) with a vertical component."""

    def __call__(self, xyz):
        R = np.hypot(xyz[:, 0], xyz[:, 1]) + 0.3
        phi = np.arctan2(xyz[:, 1], xyz[:, 0])
        p = np.deg2rad(12.0)
        bR, bphi = np.sin(p), np.cos(p)
        B = np.stack([bR * np.cos(phi) - bphi * np.sin(phi), bR * np.sin(phi) + bphi * np.cos(phi),
                      0.2 * np.tanh(xyz[:, 2])], axis=1)
        return B * np.exp(-R / 10.0)[:, None]


def cases():
    grid = Grid((-5, 5, 17), (-5, 5, 13), (-2, 2, 9), E_GeV=np.array([10.0, 1000.0]))
    tensor = FieldAligned(Spiral(), 0.03, BrokenPowerLaw(3e28))
    src = GaussianBlob((1.0, -0.5, 0.0), 0.8)
    opts = {"ksp_rtol": "1e-13"}
    a = solve_steady(grid, tensor, src, lambda E: E ** -2.0, boundary=Cylinder(4.8, 1.8), petsc_options=opts)
    b = solve_steady(grid, tensor, src, lambda E: E ** -2.0, boundary=Cylinder(4.8, 1.8), petsc_options=opts,
                     losses=PPLosses(lambda x: np.full(len(x), 1.0), nuclear_factor=30.0))
    return a, b


SLAB_SSOR = {"mg_levels_pc_type": "python", "mg_levels_pc_python_type": "fpgal.transport.smoother.SlabSSOR"}


def smoother_cases():
    """ε = 1e-3 on a 24×24×12 grid with PETSc's SOR and with the two-colour slab SSOR level smoother."""
    grid = Grid((-5, 5, 24), (-5, 5, 24), (-2, 2, 12), E_GeV=np.array([10.0]))
    tensor = FieldAligned(Spiral(), 1e-3, BrokenPowerLaw(3e28))
    src = GaussianBlob((1.0, -0.5, 0.0), 0.8)
    return [solve_steady(grid, tensor, src, lambda E: E ** -2.0, boundary=Cylinder(4.8, 1.8), petsc_options=o)
            for o in ({}, SLAB_SSOR)]


if __name__ == "__main__":
    a, b = cases()
    sor, slab = smoother_cases()
    if a.comm is None or a.comm.Get_rank() == 0:     # every rank holds the result; one writes the npz
        np.savez(sys.argv[1], factorized=a.density, losses=b.density, ranks=a.meta["n_ranks"],
                 sor=sor.density, slab=slab.density, its_sor=sor.meta["iterations"], its_slab=slab.meta["iterations"])
