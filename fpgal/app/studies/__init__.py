"""Application-level studies built on the pipeline: mesh convergence (``fpgal converge``) and the
CRPropa-replica benchmark (``fpgal benchmark crpropa``). App layer (docs/architecture.md)."""
