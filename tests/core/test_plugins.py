"""Study plugins: a user file registers a gas model by name, and the config uses the name."""
import numpy as np
import pytest

from fpgal import builders
from fpgal.config import ConfigError, load_config
from fpgal.emission import gas

PLUGIN = '''
import numpy as np
from fpgal.emission.gas import GasModel, register_gas

class Shell(GasModel):
    """HI = n0 inside a spherical shell r0 < r < r1 (kpc), zero elsewhere; H2 = n0/4 everywhere."""
    def __init__(self, n0=2.0, r0=3.0, r1=5.0, **components):
        super().__init__(**components)
        self.n0, self.r0, self.r1 = n0, r0, r1
    def _HI(self, xyz):
        r = np.linalg.norm(xyz, axis=1)
        return np.where((r > self.r0) & (r < self.r1), self.n0, 0.0)
    def _H2(self, xyz):
        return np.full(len(xyz), self.n0 / 4)

register_gas("plugin_shell", lambda sun_distance_kpc=None, **kw: Shell(**kw))
'''


@pytest.fixture
def study(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "shell.py").write_text(PLUGIN)
    cfg = tmp_path / "study.toml"
    cfg.write_text('plugins = ["models/shell.py"]\n[skymap]\ngas = "plugin-shell"\n')
    yield cfg
    if "plugin-shell" in gas._GAS:
        gas._GAS.unregister("plugin-shell")


def test_plugin_gas_model_is_used_by_name(study, tmp_path):
    cfg = load_config(study)
    assert cfg.plugins == [str((tmp_path / "models" / "shell.py").resolve())]
    model = builders.build_gas(cfg)
    xyz = np.array([[4.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 6.0]])
    # n_H = n_HI + 2 n_H2 (+ n_HII = 0): 2 + 1 inside the shell, 1 outside
    np.testing.assert_allclose(model(xyz), [3.0, 1.0, 1.0])
    load_config(study)            # a second load imports the same file once, no error


def test_bad_plugins_name_themselves(tmp_path):
    missing = tmp_path / "a.toml"
    missing.write_text('plugins = ["nope.py"]\n')
    with pytest.raises(ConfigError, match=r"plugin file .*nope\.py.* does not exist"):
        load_config(missing)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    broken = tmp_path / "b.toml"
    broken.write_text('plugins = ["broken.py"]\n')
    with pytest.raises(ConfigError, match=r"broken\.py.*RuntimeError: boom"):
        load_config(broken)
    wrong = tmp_path / "c.toml"
    wrong.write_text('plugins = "x.py"\n')
    with pytest.raises(ConfigError, match="expected a list"):
        load_config(wrong)
