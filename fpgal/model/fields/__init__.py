"""Galactic magnetic-field models: callables ``field(xyz_kpc (N,3)) -> B_muG (N,3)``.

Models: :class:`UF23` (Unger & Farrar 2024, 8 variants), :class:`JF12` (Jansson & Farrar 2012;
``solenoidal=True`` for Kleimann et al. 2019), analytic :class:`Uniform`, :class:`Ring`,
:class:`LogSpiral`, :class:`XField`, and :class:`Gridded` tables. Tools: sampling onto a Grid,
the divergence diagnostic, field-line tracing, and ``field_from_name`` for configs.
"""
from .analytic import LogSpiral, Ring, XField
from .base import B_FLOOR_MUG, Field, FieldLike, Uniform, as_points, evaluate_field, unit_direction
from .divergence import DivergenceDiagnostic, divergence_diagnostic
from .gridded import Gridded
from .jf12 import JF12
from .registry import field_from_name, field_names, register_field
from .sampling import sample_centers, sample_corners, sample_directions
from .tracing import FieldLines, trace_field_line
from .uf23 import UF23

__all__ = ["B_FLOOR_MUG", "DivergenceDiagnostic", "Field", "FieldLike", "FieldLines", "Gridded", "JF12",
           "LogSpiral", "Ring", "UF23", "Uniform", "XField", "as_points", "divergence_diagnostic",
           "evaluate_field", "field_from_name", "field_names", "register_field", "sample_centers",
           "sample_corners", "sample_directions", "trace_field_line", "unit_direction"]
