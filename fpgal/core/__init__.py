"""The core layer: what every other layer may use and which uses nothing above it.

Units and constants (:mod:`~fpgal.core.units`, the Sun's position), the grid of cells and energies
(:mod:`~fpgal.core.grid`), points and trilinear interpolation (:mod:`~fpgal.core.points`,
:mod:`~fpgal.core.interp`), files with units and provenance (:mod:`~fpgal.core.files`), the packaged
reference tables (:mod:`~fpgal.core.data`), name registries, input checks, logging and MPI helpers.
Their short public names stay: ``fpgal.units`` is ``fpgal.core.units`` (docs/architecture.md).
"""
