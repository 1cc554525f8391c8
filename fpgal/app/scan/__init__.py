"""`fpgal scan`: every field model × every ε of a study in one command, and ε constrained by the γ-ray data.

Per (model, ε) the pipeline's own stages run (:mod:`fpgal.pipeline`: factorized solve, local fit, sky maps),
then the row of ``scan.csv``: χ² against LHAASO-KM2A inner/outer (:mod:`fpgal.scan.stats`), the local fit's
χ², and E²I at 1 TeV in the two windows — the numbers ``fpgal run`` gives for that model and ε. Then
``scan.md`` and the plots (:mod:`fpgal.scan.report`). Resumable and MPI-parallel like ``fpgal run``.
"""
from .run import ScanResult, model_config, read_rows, run_scan
from .stats import best_nuclei_factor, lhaaso_chi2, preferred_epsilon

__all__ = ["ScanResult", "best_nuclei_factor", "lhaaso_chi2", "model_config", "preferred_epsilon", "read_rows",
           "run_scan"]
