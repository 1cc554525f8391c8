"""Atomic HDF5 writing, provenance and the CRDensity file format."""
import h5py
import numpy as np
import pytest

from fpgal import CRDensity, Grid
from fpgal.io import atomic_h5, read_provenance, write_dataset


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
