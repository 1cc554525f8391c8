"""field_from_name: the names configs and the CLI use."""
from __future__ import annotations

import numpy as np
import pytest

from fpgal.fields import JF12, UF23, LogSpiral, Ring, Uniform, XField, field_from_name, field_names, register_field


@pytest.mark.parametrize("model", UF23.MODELS)
def test_uf23_names(model):
    f = field_from_name(f"uf23:{model}")
    assert isinstance(f, UF23) and f.model == model
    assert field_from_name(f"UF23:{model.upper()}").model == model


def test_other_names():
    assert field_from_name("uf23").model == "base"
    assert field_from_name("jf12").solenoidal is False
    assert field_from_name("jf12-solenoidal").solenoidal is True
    assert isinstance(field_from_name("uniform", B_muG=(0, 0, 2)), Uniform)
    assert isinstance(field_from_name("ring", B0_muG=2.0), Ring)
    assert isinstance(field_from_name("logspiral"), LogSpiral)
    assert isinstance(field_from_name("xfield"), XField)
    assert isinstance(field_from_name("jf12-solenoidal", delta_kpc=2.0), JF12)


def test_unknown_names_list_alternatives():
    with pytest.raises(ValueError, match="uf23:base"):
        field_from_name("pshirkov")
    with pytest.raises(ValueError, match="nebCor"):
        field_from_name("uf23:foo")
    with pytest.raises(TypeError):
        field_from_name("ring", B0=1.0)        # wrong keyword reaches the constructor


def test_register_field():
    register_field("test-constant", lambda value=1.0: (lambda x: np.full((len(x), 3), value)))
    f = field_from_name("test-constant", value=2.0)
    assert np.all(f(np.zeros((2, 3))) == 2.0)
    assert "test-constant" in field_names()
    with pytest.raises(ValueError, match="taken"):
        register_field("jf12", lambda: None)
