"""The field-line figure is written (small resolution)."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from fpgal.fields import Ring  # noqa: E402
from fpgal.plots.fields import plot_field  # noqa: E402


def test_plot_field_writes_png(tmp_path):
    out = plot_field(Ring(1.0, r_min_kpc=2.0, r_max_kpc=15.0), tmp_path / "ring.png", title="ring", n_points=40)
    assert out.is_file() and out.stat().st_size > 10000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="extent_kpc"):
        plot_field(Ring(1.0), tmp_path / "x.png", extent_kpc=-1)
