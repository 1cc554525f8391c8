"""The model layer: the physics a transport solve is given, as plain callables.

Magnetic fields B(x) (:mod:`~fpgal.model.fields`), diffusion tensors D(x, E)
(:mod:`~fpgal.model.diffusion`), source densities q(x) (:mod:`~fpgal.model.sources`), injection
spectra Q(E) (:mod:`~fpgal.model.spectra`), species (:mod:`~fpgal.model.species`) and escape
boundaries (:mod:`~fpgal.model.boundary`). It imports only :mod:`fpgal.core`. The public names are the
short ones: ``fpgal.fields``, ``fpgal.diffusion``, ``fpgal.sources``, ``fpgal.spectra``,
``fpgal.species``, ``fpgal.boundary`` are these modules (docs/architecture.md).
"""
