"""Bad user input on one MPI rank only: every rank raises (issue 15), never a hang.

A user callable that raises on rank 1 only (spectrum, source, tensor of ``solve_steady``; spectrum and
tensor of ``sde.steady_state``) used to leave rank 0 waiting in a collective call forever. Now every
user callable is evaluated inside :func:`fpgal.sde.parallel.collective`: rank 1 raises its own error,
rank 0 an error of the same kind naming rank 1 and repeating its message. Also: two ranks writing the
same PNG at once (``fpgal.plots.crslices.plot_cr``) no longer collide on a fixed temporary name.

This file is also the script run under ``mpiexec -n 2`` (``python test_mpi_inputs.py OUT_DIR``): all
cases in one launch (one start-up of PETSc), each rank writes ``OUT_DIR/rank<r>.json`` with, per case,
the exception type and message it saw. The launch has a hard timeout (tests/core/_mpirun.py): a hang
fails the test.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------------------- the MPI script
class RankBomb:
    """A callable that raises RuntimeError on one rank only and otherwise returns ``value(*args)``."""

    def __init__(self, value, rank: int = 1, what: str = "spectrum"):
        self.value, self.rank, self.what = value, rank, what

    def __call__(self, *args):
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() == self.rank:
            raise RuntimeError(f"{self.what} boom on rank {self.rank}")
        return self.value(*args)

    def __repr__(self) -> str:
        return f"RankBomb({self.what})"


class BombSpatial:
    """Isotropic separable tensor whose ``spatial`` raises on rank 1."""

    def __init__(self):
        from fpgal.diffusion import Isotropic
        self.iso = Isotropic(3e28)
        self.spatial = RankBomb(self.iso.spatial, what="tensor")

    def energy_factor(self, E):
        return self.iso.energy_factor(E)

    def __call__(self, xyz, E):
        return self.energy_factor(E) * self.spatial(xyz)


def _cases() -> dict:
    from fpgal import sde
    from fpgal.diffusion import Isotropic
    from fpgal.grid import Grid
    from fpgal.sources import GaussianBlob
    from fpgal.transport import solve_steady

    grid = Grid((-2, 2, 8), (-2, 2, 8), (-1, 1, 8), E_GeV=np.array([100.0, 1000.0]))
    src = GaussianBlob((0, 0, 0), 0.5)
    spec = lambda E: E ** -2.0  # noqa: E731
    iso = Isotropic(3e28)

    def grid_spectrum():
        solve_steady(grid, iso, src, RankBomb(spec))

    def grid_source():
        solve_steady(grid, iso, RankBomb(src, what="source"), spec)

    def grid_tensor():
        solve_steady(grid, BombSpatial(), src, spec)

    def sde_spectrum():
        sde.steady_state(grid, iso, src, RankBomb(spec), n_particles=200, seed=1)

    def sde_tensor():
        sde.steady_state(grid, BombSpatial(), src, spec, n_particles=200, seed=1)

    def plot_same_png():
        from fpgal.plots.crslices import plot_cr
        from fpgal.result import CRDensity
        cr = CRDensity(grid, np.ones((grid.n_E,) + grid.shape))
        out = Path(sys.argv[1]) / "same.png"
        for _ in range(3):                 # every rank writes the same file at the same time
            plot_cr(cr, out, energy_GeV=100.0)

    return {"grid_spectrum": grid_spectrum, "grid_source": grid_source, "grid_tensor": grid_tensor,
            "sde_spectrum": sde_spectrum, "sde_tensor": sde_tensor, "plot_same_png": plot_same_png}


def _main(out_dir: str) -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    report = {}
    for name, case in _cases().items():
        try:
            case()
            report[name] = {"error": None, "message": ""}
        except Exception as exc:  # noqa: BLE001 - reported to the test
            # the message and its notes: another rank's error is re-raised with a note naming that rank
            report[name] = {"error": type(exc).__name__,
                            "message": " ".join([str(exc), *getattr(exc, "__notes__", [])])}
        comm.Barrier()
    Path(out_dir, f"rank{comm.Get_rank()}.json").write_text(json.dumps(report))


# ----------------------------------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[dict]:
    pytest.importorskip("petsc4py")
    pytest.importorskip("mpi4py")
    sys.path.insert(0, str(HERE.parent / "core"))
    try:
        from _mpirun import run_mpi
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("mpi_inputs")
    proc = run_mpi([__file__, str(out)], n=2, timeout_s=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)], out


@pytest.mark.mpi
@pytest.mark.parametrize("case, kind, culprit", [
    ("grid_spectrum", "ValueError", "spectrum boom on rank 1"),
    ("grid_source", "RuntimeError", "source boom on rank 1"),
    ("grid_tensor", "RuntimeError", "tensor boom on rank 1"),
    ("sde_spectrum", "ValueError", "spectrum boom on rank 1"),
    ("sde_tensor", "RuntimeError", "tensor boom on rank 1"),
])
def test_error_on_one_rank_raises_on_every_rank(reports, case, kind, culprit):
    (r0, r1), _ = reports
    # rank 1 raises its own error; rank 0 a copy of it (same type and message) with a note naming rank 1
    assert r1[case]["error"] == kind, r1[case]
    assert culprit in r1[case]["message"]
    assert r0[case]["error"] == kind, r0[case]
    assert "MPI rank 1" in r0[case]["message"] and culprit in r0[case]["message"], r0[case]
    if case.endswith("spectrum"):   # the spectrum's error names the energy where it failed
        assert "E_GeV=100" in r1[case]["message"]


@pytest.mark.mpi
def test_two_ranks_write_the_same_png(reports):
    (r0, r1), out = reports
    assert r0["plot_same_png"]["error"] is None, r0["plot_same_png"]
    assert r1["plot_same_png"]["error"] is None, r1["plot_same_png"]
    png = out / "same.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.partial")) and not list(out.glob(".*partial*"))


if __name__ == "__main__":
    _main(sys.argv[1])
