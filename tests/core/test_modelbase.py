"""One model style (fpgal.core.modelbase): every built-in field, D(E) law, tensor, source, boundary,
gas model and spectrum is a Model — parameters = constructor arguments, frozen, to_dict/model_from_dict
round trip that rebuilds an object with the same values, JSON provenance in solver results."""
from __future__ import annotations

import importlib
import inspect
import json

import numpy as np
import pytest

import fpgal
from fpgal import boundary, diffusion, fields, sources
from fpgal.core.modelbase import Model, model_from_dict
from fpgal.emission import gas
from fpgal.transport import losses
from fpgal.model import species, spectra

RNG = np.random.default_rng(7)
POINTS = RNG.uniform(-12.0, 12.0, size=(64, 3)) * np.array([1.0, 1.0, 0.2])


def _examples() -> list:
    uf23 = fields.UF23("base")
    return [
        fields.Uniform((1.0, -2.0, 0.5)), fields.Ring(B0_muG=2.0, r_min_kpc=1.0), fields.LogSpiral(pitch_deg=12.0),
        fields.XField(B_X_muG=3.0), uf23, fields.UF23("cre10"), fields.JF12(), fields.JF12(solenoidal=False),
        diffusion.BrokenPowerLaw(3e28), diffusion.PowerLaw(1e28, delta=0.4), diffusion.CRPropaLaw(Z=2),
        diffusion.Constant(2e28), diffusion.Isotropic(1e28), diffusion.FieldAligned(uf23, 0.01, diffusion.BrokenPowerLaw(3e28)),
        sources.CaseBhattacharya(), sources.Lorimer2006(), sources.Yusifov2004(), sources.PulsarSpiral(arm_width_kpc=0.7),
        sources.Uniform(), sources.GaussianBlob((1.0, 2.0, 0.0), 0.8), sources.PointSource((1.0, 0.0, 0.0)),
        boundary.Box(), boundary.Box((-5, -5, -1), (5, 5, 1)), boundary.Cylinder(15.0, 3.0),
        gas.NakanishiSofue(H2=False), gas.Ferriere(), gas.Uniform(2.0, "H2"), gas.Sum(gas.Uniform(1.0), gas.Uniform(0.5, "HII")),
        gas.GasCube((-1, -1, -1), (1, 1, 1), HI=np.full((2, 2, 2), 0.3)),
        species.Species("He", 2, 4, species.M_HE4_GeV),
        losses.PPLosses(gas.Uniform(1.0), nuclear_factor=1.8), losses.IonizationLosses(gas.Ferriere()),
        losses.Advection(20.0),
    ]


def _values(obj) -> np.ndarray:
    """What the object computes, for comparing a rebuilt object with the original."""
    if isinstance(obj, (boundary.Box, boundary.Cylinder)):
        return obj.bind(fpgal.Grid.from_mesh("milkyway-1kpc")).inside(POINTS).astype(float)
    if isinstance(obj, (diffusion.FieldAligned, diffusion.Isotropic)):
        return obj(POINTS, 1000.0)
    if isinstance(obj, (losses.PPLosses, losses.IonizationLosses)):
        return obj.rate_per_s(POINTS, 1000.0) if obj.kind == "catastrophic" else obj.Edot_GeV_per_s(POINTS, 1000.0)
    if isinstance(obj, losses.Advection):
        return obj.uz_cm_s(POINTS[:, 2])
    if isinstance(obj, species.Species):
        return obj.rigidity_GV(np.geomspace(10.0, 1e6, 7))
    if isinstance(obj, (diffusion.BrokenPowerLaw, diffusion.PowerLaw, diffusion.CRPropaLaw, diffusion.Constant)):
        return obj(np.geomspace(10.0, 1e6, 7))
    return np.asarray(obj(POINTS), dtype=float)


@pytest.mark.parametrize("obj", _examples(), ids=lambda o: type(o).__name__)
def test_round_trip_rebuilds_the_same_model(obj):
    """model_from_dict(to_dict()) gives an object with the same dict and the same values at 64 points;
    the dict is JSON."""
    data = obj.to_dict()
    assert data["type"].startswith("fpgal.") and json.loads(json.dumps(data)) == data
    again = model_from_dict(json.loads(json.dumps(data)))
    assert type(again) is type(obj) and again.to_dict() == data and repr(again) == repr(obj)
    np.testing.assert_allclose(_values(again), _values(obj), rtol=1e-13, atol=0.0)


def test_type_names_are_the_public_short_names():
    assert fields.UF23().to_dict()["type"] == "fpgal.fields.UF23"
    assert diffusion.Isotropic().to_dict() == {"type": "fpgal.diffusion.Isotropic",
                                               "d": {"type": "fpgal.diffusion.Constant", "D_cm2_s": 1e28}}
    assert gas.Uniform().to_dict()["type"] == "fpgal.emission.gas.Uniform"


def test_models_are_frozen_with_a_clear_error():
    c = boundary.Cylinder(20.0, 4.0)
    with pytest.raises(AttributeError, match=r"Cylinder\.R_kpc: .*immutable.*replace\(R_kpc=\.\.\.\)"):
        c.R_kpc = 10.0
    with pytest.raises(AttributeError, match="immutable"):
        del c.H_kpc
    assert c.R_kpc == 20.0
    c._scratch = 1                       # private internals (caches) stay writable
    t = diffusion.FieldAligned(fields.Uniform(), 0.1, 3e28)
    with pytest.raises(AttributeError, match="FieldAligned.epsilon"):
        t.epsilon = 0.5
    with pytest.raises(Exception):       # spectra are frozen dataclasses
        spectra.PowerLaw().alpha = -2.0


def test_replace_validates_like_the_constructor():
    c = boundary.Cylinder(20.0, 4.0)
    assert c.replace(H_kpc=3.0).to_dict() == {"type": "fpgal.boundary.Cylinder", "R_kpc": 20.0, "H_kpc": 3.0}
    with pytest.raises(ValueError, match="H_kpc=-1"):
        c.replace(H_kpc=-1.0)
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['R'\]"):
        c.replace(R=3.0)


def test_unrebuildable_values_are_refused_by_name():
    cube = gas.GasCube((-1, -1, -1), (1, 1, 1), HI=np.ones((5, 5, 5)))
    data = cube.to_dict()
    assert data["HI"]["array_shape"] == [5, 5, 5] and len(data["HI"]["sha1"]) == 16
    with pytest.raises(ValueError, match="checksum"):
        model_from_dict(data)
    custom = diffusion.FieldAligned(lambda xyz: np.tile([0.0, 0.0, 1.0], (len(xyz), 1)), 0.1, 3e28)
    with pytest.raises(ValueError, match="cannot rebuild <function"):
        model_from_dict(custom.to_dict())
    with pytest.raises(ValueError, match="expected"):
        model_from_dict({"type": "Cylinder"})


def test_a_subclass_that_does_not_store_a_parameter_is_named():
    class Leaky(Model):
        def __init__(self, width_kpc: float):
            self.w = width_kpc
    with pytest.raises(AttributeError, match=r"Leaky does not store its parameter 'width_kpc'"):
        Leaky(1.0).to_dict()


MODEL_MODULES = ["fpgal.model.fields", "fpgal.model.diffusion", "fpgal.model.sources", "fpgal.model.boundary",
                 "fpgal.emission.gas", "fpgal.model.spectra", "fpgal.model.species", "fpgal.transport.losses"]
#: public classes in those modules that are not model objects, with the reason
NOT_MODELS = {"FieldLike": "a typing Protocol", "TensorLike": "a typing Protocol",
              "RepeatEvaluations": "a counting wrapper around any field (diagnostics)",
              "FieldLines": "a result (traced lines), not a model", "DivergenceDiagnostic": "a result"}


def test_every_public_model_class_is_a_model():
    """The rule of one style: a new public class in a model module derives from Model (or says why not)."""
    strays = []
    for name in MODEL_MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (inspect.isclass(obj) and not attr.startswith("_") and obj.__module__.startswith(name.rsplit(".", 1)[0])
                    and obj.__module__.startswith("fpgal.") and attr not in NOT_MODELS
                    and not issubclass(obj, (Model, Exception)) and "Config" not in attr):
                strays.append(f"{name}.{attr}")
    assert strays == []


def test_a_solve_records_its_models_and_they_rebuild(tmp_path):
    """The grid solver's result carries models_json; the tensor rebuilt from the saved file gives the
    same D at the cells (provenance that can be executed, not only read)."""
    pytest.importorskip("petsc4py")
    grid = fpgal.Grid((-2, 2, 8), (-2, 2, 8), (-1, 1, 4), E_GeV=[100.0])
    tensor = diffusion.FieldAligned(fields.Ring(B0_muG=1.0), 0.1, diffusion.BrokenPowerLaw(3e28))
    cr = fpgal.solve_steady(grid, tensor, sources.GaussianBlob((0.0, 0.0, 0.0), 0.5), spectra.PowerLaw(),
                            boundary=fpgal.Box())
    path = cr.save(tmp_path / "cr.h5")
    meta = fpgal.CRDensity.load(path).meta
    recorded = json.loads(meta["models_json"])
    rebuilt = model_from_dict(recorded["tensor"])
    np.testing.assert_array_equal(rebuilt(POINTS, 100.0), tensor(POINTS, 100.0))
    assert spectra.spectrum_from_dict(recorded["spectrum"]) == spectra.PowerLaw()
    assert recorded["boundary"] == {"type": "fpgal.boundary.Box", "lower_kpc": [-2.0, -2.0, -1.0],   # bound to the grid
                                    "upper_kpc": [2.0, 2.0, 1.0]}


def test_a_user_subclass_without_parameters_works():
    class Vertical(fields.Field):
        def _evaluate(self, xyz):
            return np.tile([0.0, 0.0, 1.0], (len(xyz), 1))
    v = Vertical()
    assert repr(v) == "Vertical()" and v.parameters() == {} and v.to_dict()["type"].endswith("Vertical")
    np.testing.assert_array_equal(v(POINTS)[:, 2], 1.0)


def test_the_study_tensor_records_the_field_behind_its_cache():
    """The pipeline wraps the field in RepeatEvaluations (a cache); the record names the field itself, so a
    result file of `fpgal run` rebuilds its tensor (found running the README's first command)."""
    from fpgal.core.modelbase import models_json
    from fpgal.model.fields.base import RepeatEvaluations
    tensor = diffusion.FieldAligned(RepeatEvaluations(fields.UF23("base")), 0.001, diffusion.BrokenPowerLaw(3e28))
    recorded = json.loads(models_json(tensor=tensor))["tensor"]
    assert recorded["field"] == {"type": "fpgal.fields.UF23", "model": "base", "max_radius_kpc": 30.0}
    np.testing.assert_array_equal(model_from_dict(recorded)(POINTS, 1000.0), tensor(POINTS, 1000.0))
