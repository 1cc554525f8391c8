"""Atomic HDF5 writing, provenance and the CRDensity file format (general and factorized, versions 1 and 2)."""
import h5py
import numpy as np
import pytest
from _mpirun import run_mpi, run_serial

from fpgal import CRDensity, Grid
from fpgal.files import atomic_h5, read_provenance, write_dataset


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with atomic_h5(target) as h5:
            write_dataset(h5, "x", np.arange(3), "kpc")
            raise RuntimeError("simulated crash in the middle of a write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind either


def test_complete_write_has_units_and_provenance(tmp_path):
    target = tmp_path / "out.h5"
    with atomic_h5(target, config_text="[grid]\nmesh='x'") as h5:
        write_dataset(h5, "x", np.arange(3.0), "kpc", "a test axis")
    with h5py.File(target) as h5:
        assert h5["x"].attrs["units"] == "kpc"
        prov = dict(h5["provenance"].attrs)
    assert prov["config"].startswith("[grid]")
    for key in ("version_fpgal", "version_numpy", "version_petsc", "version_mpi", "date_utc", "command_line"):
        assert key in prov
    assert read_provenance(target)["version_fpgal"] == prov["version_fpgal"]


def test_crdensity_roundtrip_and_local_spectrum(tmp_path):
    g = Grid((-10, 10, 20), (-10, 10, 20), (-2, 2, 8), E_GeV=[10.0, 100.0, 1000.0])
    x = g.cell_centers_kpc()
    # density linear in x: the sphere average equals the value at the centre exactly
    dens = np.stack([(k + 1) * (5.0 + 0.1 * x[..., 0]) for k in range(3)])
    cr = CRDensity(g, dens, meta={"solver": "test"})
    path = cr.save(tmp_path / "cr.h5")
    back = CRDensity.load(path)
    assert back.grid == g
    np.testing.assert_array_equal(back.density, dens)
    assert back.meta["solver"] == "test"
    with h5py.File(path) as h5:
        assert h5["density"].attrs["units"] == "GeV^-1 cm^-3"
        assert h5["grid/E"].attrs["units"] == "GeV"
    loc = cr.local_spectrum(center_kpc=(-8.5, 0.0, 0.0), radius_kpc=1.6)
    np.testing.assert_allclose(loc, [(k + 1) * (5.0 - 0.85) for k in range(3)], rtol=1e-3)
    # a sphere much smaller than a cell: interpolated, or a clear error on request
    small = cr.local_spectrum(center_kpc=(-8.5, 0.0, 0.0), radius_kpc=0.01)
    np.testing.assert_allclose(small, [(k + 1) * 4.15 for k in range(3)], rtol=1e-9)
    with pytest.raises(ValueError, match="holds no cell volume"):
        cr.local_spectrum(center_kpc=(-8.5, 0.0, 0.0), radius_kpc=0.01, interpolate=False)


def test_intensity_is_beta_c_n_over_4pi():
    g = Grid((0, 1, 1), (0, 1, 1), (0, 1, 1), E_GeV=[1.0, 1e4])
    cr = CRDensity(g, np.ones((2, 1, 1, 1)))
    gamma = 1 + 1.0 / 0.93827208816
    beta = np.sqrt(1 - 1 / gamma ** 2)
    np.testing.assert_allclose(cr.intensity()[:, 0, 0, 0], np.array([beta, 1.0]) * 2.99792458e10 / (4 * np.pi),
                               rtol=1e-8)


def test_density_shape_checked():
    g = Grid((0, 1, 2), (0, 1, 2), (0, 1, 2), E_GeV=[1.0])
    with pytest.raises(ValueError, match="expected"):
        CRDensity(g, np.zeros((2, 2, 2, 2)))


# ------------------------------------------------------------------------------ factorized results
def _factorized_case(nE: int = 3):
    g = Grid((-10, 10, 20), (-10, 10, 20), (-2, 2, 8), E_GeV=np.geomspace(10.0, 1e4, nE))
    x = g.cell_centers_kpc()
    spatial = np.exp(-0.5 * ((x[..., 0] + 3) ** 2 + x[..., 1] ** 2) / 16.0 - np.abs(x[..., 2]))
    factor = (g.E_GeV / 10.0) ** -2.7
    return g, spatial, factor


def test_factorized_density_is_the_outer_product_and_read_only():
    g, spatial, factor = _factorized_case()
    cr = CRDensity.factorized(g, spatial, factor, meta={"solver": "test"})
    assert cr.is_factorized and cr.error is None
    np.testing.assert_array_equal(cr.density, factor[:, None, None, None] * spatial[None])
    assert cr.density is cr.density                      # expanded once, cached
    with pytest.raises(ValueError, match="read-only"):
        cr.density[0, 0, 0, 0] = 1.0                     # the cache would no longer match spatial
    before = cr.density[:, 0, 0, 0].copy()
    spatial[0, 0, 0] = 7.0                               # the caller's array stays writable and is not shared
    assert cr.spatial[0, 0, 0] != 7.0
    np.testing.assert_array_equal(cr.density[:, 0, 0, 0], before)
    general = CRDensity(g, factor[:, None, None, None] * spatial[None])
    assert not general.is_factorized and general.spatial is None and general.energy_factor is None


def test_factorized_shapes_checked():
    g, spatial, factor = _factorized_case()
    with pytest.raises(ValueError, match=r"energy_factor has shape \(2,\), expected \(nE,\)"):
        CRDensity.factorized(g, spatial, factor[:2])
    with pytest.raises(ValueError, match="spatial has shape"):
        CRDensity.factorized(g, spatial[None], factor)


def test_factorized_normalize_keeps_the_product():
    g, spatial, factor = _factorized_case()
    cr = CRDensity.factorized(g, spatial, 3e-12 * factor, normalize=True)
    assert np.abs(cr.energy_factor).max() == 1.0
    np.testing.assert_allclose(cr.density, 3e-12 * factor[:, None, None, None] * spatial[None], rtol=1e-14)


def test_factorized_helpers_agree_with_the_general_form():
    g, spatial, factor = _factorized_case()
    sigma = 0.1 * spatial
    fac = CRDensity.factorized(g, spatial, factor, sigma)
    gen = CRDensity(g, fac.density.copy(), fac.error.copy())
    np.testing.assert_array_equal(fac.error, np.abs(factor)[:, None, None, None] * sigma[None])
    for kwargs in ({"radius_kpc": 1.6}, {"radius_kpc": 0.01}, {"center_kpc": (2.3, -1.1, 0.4), "radius_kpc": 2.0}):
        np.testing.assert_allclose(fac.local_spectrum(**kwargs), gen.local_spectrum(**kwargs), rtol=1e-13)
    pts = np.array([[-8.5, 0.0, 0.0], [0.3, 0.2, -0.1], [30.0, 0.0, 0.0], [9.9, -9.9, 1.9]])
    np.testing.assert_allclose(fac.interpolate(pts), gen.interpolate(pts), rtol=1e-13)
    assert np.all(fac.interpolate(pts)[:, 2] == 0.0)          # outside the grid
    w = np.array([2.0, -1.0, 0.5])
    s_fac, s_gen = fac.scaled(w), gen.scaled(w)
    assert s_fac.is_factorized and not s_gen.is_factorized
    np.testing.assert_allclose(s_fac.density, s_gen.density, rtol=1e-15)
    np.testing.assert_allclose(s_fac.error, s_gen.error, rtol=1e-15)
    np.testing.assert_allclose(fac.intensity(), gen.intensity(), rtol=1e-15)
    with pytest.raises(ValueError, match="factor_E has 2 values, expected one per grid energy"):
        fac.scaled([1.0, 2.0])


def test_assigning_density_makes_a_result_general():
    g, spatial, factor = _factorized_case()
    cr = CRDensity.factorized(g, spatial, factor, 0.1 * spatial)
    cr.density = 2.0 * cr.density
    assert not cr.is_factorized
    np.testing.assert_allclose(cr.density, 2.0 * factor[:, None, None, None] * spatial[None])
    np.testing.assert_allclose(cr.error, 0.1 * factor[:, None, None, None] * spatial[None])
    cr.density[0, 0, 0, 0] = 5.0                         # general arrays are the user's to modify


def test_factorized_file_roundtrip_and_layout(tmp_path):
    g, spatial, factor = _factorized_case(nE=25)
    cr = CRDensity.factorized(g, spatial, factor, 0.05 * spatial, meta={"solver": "test", "epsilon": 0.1})
    path = cr.save(tmp_path / "fac.h5")
    with h5py.File(path) as h5:
        assert h5.attrs["format"] == "fpgal.CRDensity" and h5.attrs["format_version"] == 2
        assert h5.attrs["layout"] == "factorized"
        assert "density" not in h5 and "error" not in h5
        assert h5["spatial"].shape == g.shape and h5["energy_factor"].shape == (g.n_E,)
        assert h5["spatial"].attrs["units"] == "GeV^-1 cm^-3"            # the density units are on spatial
        assert h5["energy_factor"].attrs["units"] == "1"
        assert h5["spatial_error"].attrs["units"] == "GeV^-1 cm^-3"
    back = CRDensity.load(path)
    assert back.is_factorized and back.grid == g and back.comm is None
    np.testing.assert_array_equal(back.density, cr.density)
    np.testing.assert_array_equal(back.error, cr.error)
    np.testing.assert_array_equal(back.local_spectrum(), cr.local_spectrum())
    assert back.meta == cr.meta
    general = CRDensity(g, cr.density, cr.error, cr.meta).save(tmp_path / "gen.h5")
    with h5py.File(general) as h5:
        assert h5.attrs["layout"] == "general" and "spatial" not in h5 and h5["density"].shape == (25,) + g.shape
    assert path.stat().st_size * 10 <= general.stat().st_size


def _write_version_1(path, g, dens, err=None):
    """The layout fpgal wrote before format_version 2 (no root format attributes)."""
    from fpgal.result import save_grid
    with h5py.File(path, "w") as h5:
        save_grid(h5.create_group("grid"), g)
        write_dataset(h5, "density", dens, "GeV^-1 cm^-3")
        if err is not None:
            write_dataset(h5, "error", err, "GeV^-1 cm^-3")
        h5.attrs["mass_GeV"] = 3.727379
        h5.create_group("meta").attrs["solver"] = "old"


def test_version_1_file_still_loads(tmp_path):
    g, spatial, factor = _factorized_case()
    dens = factor[:, None, None, None] * spatial[None]
    _write_version_1(tmp_path / "v1.h5", g, dens, 0.1 * dens)
    back = CRDensity.load(tmp_path / "v1.h5")
    assert not back.is_factorized and back.grid == g and back.mass_GeV == 3.727379
    np.testing.assert_array_equal(back.density, dens)
    np.testing.assert_array_equal(back.error, 0.1 * dens)
    assert back.meta == {"solver": "old"}


def test_unknown_format_or_version_is_a_clear_error(tmp_path):
    g, spatial, factor = _factorized_case()
    path = CRDensity.factorized(g, spatial, factor).save(tmp_path / "a.h5")
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 3
    with pytest.raises(ValueError, match="format_version = 3; this fpgal reads versions 1 to 2"):
        CRDensity.load(path)
    with h5py.File(path, "a") as h5:
        h5.attrs["format"] = "fpgal.SkyMaps"
    with pytest.raises(ValueError, match="format = 'fpgal.SkyMaps', expected 'fpgal.CRDensity'"):
        CRDensity.load(path)
    with h5py.File(tmp_path / "b.h5", "w") as h5:
        h5["x"] = 1.0
    with pytest.raises(ValueError, match="not an fpgal CRDensity file"):
        CRDensity.load(tmp_path / "b.h5")


def test_save_without_communicator_writes_here(tmp_path):
    g, spatial, factor = _factorized_case()
    cr = CRDensity.factorized(g, spatial, factor, comm=None)
    assert cr.save(tmp_path / "x" / "cr.h5") == tmp_path / "x" / "cr.h5"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["cr.h5"]


class FakeComm:
    """Stand-in for an mpi4py communicator of 2 ranks: ``bcast`` records what this rank sends and
    returns ``from_root`` on non-root ranks (what rank 0 would have sent)."""

    def __init__(self, rank: int, from_root=None):
        self.rank, self.from_root, self.sent = rank, from_root, "nothing"

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return 2

    def bcast(self, obj, root=0):
        self.sent = obj
        return obj if self.rank == root else self.from_root

    def Ibarrier(self):
        return self

    def Test(self):
        return True


def test_collective_save_writes_on_rank_0_only(tmp_path):
    g, spatial, factor = _factorized_case()
    target = tmp_path / "cr.h5"
    other = CRDensity.factorized(g, spatial, factor, comm=FakeComm(1, from_root=(target, None)))
    assert other.save(target) == target
    assert not target.exists() and list(tmp_path.iterdir()) == []       # rank 1 wrote nothing
    root_comm = FakeComm(0)
    root = CRDensity.factorized(g, spatial, factor, comm=root_comm)
    assert root.save(target) == target and target.is_file()
    assert root_comm.sent == (target, None)                               # the outcome went to the others


def test_collective_save_raises_rank_0_error_everywhere(tmp_path):
    g, spatial, factor = _factorized_case()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    root_comm = FakeComm(0)
    with pytest.raises(OSError):
        CRDensity.factorized(g, spatial, factor, comm=root_comm).save(blocker / "cr.h5")
    error = root_comm.sent[1]
    assert isinstance(error, OSError)
    other = CRDensity.factorized(g, spatial, factor, comm=FakeComm(1, from_root=(None, error)))
    with pytest.raises(type(error)) as info:
        other.save(blocker / "cr.h5")
    assert "raised on MPI rank 0" in " ".join(getattr(info.value, "__notes__", []))


def test_unpicklable_error_is_sent_as_a_runtime_error():
    from fpgal.mpi import on_root

    class Unpicklable(Exception):
        def __init__(self):
            super().__init__("boom")
            self.handle = lambda: None

    def fail():
        raise Unpicklable()
    comm = FakeComm(0)
    with pytest.raises(Unpicklable):
        on_root(fail, comm)
    assert isinstance(comm.sent[1], RuntimeError) and "Unpicklable: boom" in str(comm.sent[1])


# ------------------------------------------------------------------------------ provenance under MPI
def test_versions_import_neither_petsc_nor_mpi():
    """Importing petsc4py.PETSc / mpi4py.MPI initialises PETSc/MPI (collective): versions() must not."""
    code = ("import sys, fpgal.files as io; v = io.versions(); "
            "print(sorted(m for m in ('petsc4py.PETSc', 'mpi4py.MPI') if m in sys.modules)); print(v)")
    proc = run_serial(["-c", code])
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded, versions = proc.stdout.splitlines()[:2]
    assert loaded == "[]"
    for key in ("fpgal", "numpy", "h5py", "petsc4py", "mpi4py", "petsc", "mpi"):
        assert f"'{key}'" in versions


HANG_ONE_LINER = ("from mpi4py import MPI; import fpgal.files as io; r = MPI.COMM_WORLD.rank; "
                  "(io.versions() if r == 0 else None); MPI.COMM_WORLD.Barrier()")


@pytest.mark.mpi
def test_versions_on_rank_0_only_does_not_hang():
    """Issue 15: provenance is written by rank 0 alone; versions() there must not wait for the others."""
    pytest.importorskip("mpi4py")
    proc = run_mpi(["-c", HANG_ONE_LINER], n=2, timeout_s=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
