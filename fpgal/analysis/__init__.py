"""Analysis of solved CR densities: local proton data (``crdata``), the fit of the injection spectrum
to them (``fit``), and comparisons between solvers (``compare``).
"""
