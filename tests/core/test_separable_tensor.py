"""fpgal.diffusion.SeparableTensor: a user tensor written as energy_factor × spatial is separable,
its __call__ is the product, and a missing method names itself."""
import numpy as np
import pytest

from fpgal.diffusion import FieldAligned, PowerLaw, SeparableTensor, energy_factors, is_separable
from fpgal.fields import Uniform


class TiltedUser(SeparableTensor):
    """The same tensor as FieldAligned(Uniform(b), ε, PowerLaw), written by hand."""

    def __init__(self, b, eps, law):
        self.b, self.eps, self.law = np.asarray(b, float) / np.linalg.norm(b), eps, law

    def energy_factor(self, E_GeV):
        return float(self.law(E_GeV))

    def spatial(self, xyz_kpc):
        bb = np.outer(self.b, self.b)
        return np.broadcast_to(self.eps * np.eye(3) + (1 - self.eps) * bb, (len(xyz_kpc), 3, 3)).copy()


def test_user_separable_tensor_equals_the_built_in_one():
    law = PowerLaw(3e28, 10.0, 0.4)
    user, builtin = TiltedUser((1.0, 0.5, 0.2), 0.03, law), FieldAligned(Uniform((1.0, 0.5, 0.2)), 0.03, law)
    xyz = np.random.default_rng(1).uniform(-5, 5, (7, 3))
    assert is_separable(user)
    for E in (10.0, 1e3, 1e5):
        np.testing.assert_allclose(user(xyz, E), builtin(xyz, E), rtol=1e-13)
    np.testing.assert_allclose(energy_factors(user, [10.0, 1e3]), [3e28, 3e28 * 100 ** 0.4], rtol=1e-13)
    # a single point given as a flat (3,) array is one point
    assert user(np.zeros(3), 10.0).shape == (1, 3, 3)


def test_missing_method_names_itself():
    class Half(SeparableTensor):
        def energy_factor(self, E_GeV):
            return 1e28

    with pytest.raises(NotImplementedError, match=r"Half\.spatial"):
        Half()(np.zeros((2, 3)), 10.0)
