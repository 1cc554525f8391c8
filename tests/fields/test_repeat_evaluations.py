"""RepeatEvaluations: a repeated query on the same points is answered from memory, anything else is evaluated."""
import numpy as np

from fpgal.fields.base import RepeatEvaluations


class CountingField:
    def __init__(self):
        self.calls = 0

    def __call__(self, xyz):
        self.calls += 1
        return np.stack([xyz[:, 1], -xyz[:, 0], np.ones(len(xyz))], axis=1)

    def __repr__(self):
        return "CountingField()"


def test_same_points_evaluated_once_other_points_again():
    inner = CountingField()
    field = RepeatEvaluations(inner)
    pts = np.random.default_rng(0).normal(size=(50, 3))
    first = field(pts)
    first[:] = 0.0                       # callers get copies: modifying one must not change the next answer
    again = field(pts.copy())
    assert inner.calls == 1
    np.testing.assert_array_equal(again, inner(pts))
    moved = pts.copy()
    moved[7, 2] += 1e-12                 # any change of any point is a new query
    np.testing.assert_array_equal(field(moved), inner(moved))
    assert inner.calls == 4              # 1 (first) + 1 (direct) + 1 (moved via wrapper) + 1 (direct)
    assert repr(field) == "CountingField()" and field.calls == inner.calls


def test_study_fields_are_shared_and_evaluated_once_per_mesh():
    from fpgal import builders
    from fpgal.config import load_config
    cfg = load_config(None, {"field.model": "uf23:base"})
    assert builders.build_field(cfg) is builders.build_field(cfg)
    assert builders.build_tensor(cfg, 0.1).field is builders.build_tensor(cfg, 0.01).field
