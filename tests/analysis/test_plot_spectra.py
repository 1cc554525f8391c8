"""Fig. 2-like plot of the local proton spectrum (fpgal.plots.spectra)."""
from __future__ import annotations

import numpy as np

from fpgal.analysis import crdata
from fpgal.analysis.fit import LocalBasis, fit_local_flux
from fpgal.spectra import SmoothBrokenPowerLaw


def test_plot_writes_png_with_data_and_fit_curves(tmp_path):
    from fpgal.plots.spectra import curves_from_fits, plot_local_spectrum
    data = crdata.load_experiments(["AMS-02-2021", "DAMPE-2025", "LHAASO_QGSJET"], E_min_GeV=10.0, E_max_GeV=3e6)
    E = np.geomspace(10.0, 1e7, 25)
    basis = LocalBasis(E, E ** -0.33)
    fit = fit_local_flux(basis, data, SmoothBrokenPowerLaw(), E_max_GeV=3e6)
    curves = curves_from_fits({"ε = 0.1": fit})
    assert curves[0][1][0] >= 10.0 and curves[0][1][-1] <= 1e7
    out = tmp_path / "fig2.png"
    fig = plot_local_spectrum(data, curves, out, E_window_GeV=(10.0, 3e6))
    assert out.stat().st_size > 10_000
    assert not list(tmp_path.glob("*.partial"))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "AMS-02-2021" in labels and any("χ²/dof" in t for t in labels)
    # E^2.7-weighted data: the y values of the AMS-02 points are E^2.7 J
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), data["AMS-02-2021"].J * data["AMS-02-2021"].E_GeV ** 2.7)
