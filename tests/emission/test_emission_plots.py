"""The map and spectrum plots write non-empty PNG files (Agg), atomically."""
from __future__ import annotations

import healpy as hp
import numpy as np

from fpgal.plots import maps as PM


def test_plots_write_png(tmp_path):
    nside = 16
    l, b = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    E = np.geomspace(1e4, 1e6, 5)
    m = np.exp(-np.abs(b) / 5.0)[None] * 1e-12 * (E[:, None] / 1e4) ** -2.7
    paths = [PM.plot_skymap(m[0], tmp_path / "map.png", E_GeV=E[0]),
             PM.plot_ratio_map(1 + 0.1 * np.sin(np.radians(l)), tmp_path / "ratio.png", title="aniso/iso"),
             *PM.plot_lhaaso_regions(E, {"model": m, "model x2": 2 * m}, tmp_path)]
    for p in paths:
        assert p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert not list(tmp_path.glob("*.partial"))
