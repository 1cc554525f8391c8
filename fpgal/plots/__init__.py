"""Plots. Writers produce files, plots read files or plain result objects — never solver internals.

One module per stage: ``fields`` (field lines, Fig. 1), ``spectra`` (local CR spectrum fit, Fig. 2),
``maps`` (Mollweide sky maps and ratio maps, Figs. 3–4; regional γ spectra, Fig. 5),
``compare`` (grid vs SDE). All use the non-interactive Agg backend.
"""
import matplotlib

matplotlib.use("Agg")
