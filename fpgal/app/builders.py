"""Config → physics objects. The only place that maps config sections onto library classes.

Each builder takes a validated :class:`fpgal.config.Config` and returns a plain library object
(grid, field, tensor, source, spectrum, boundary, gas), so the pipeline reads as
field → tensor → operator → solve → CR density → emission → maps.
"""
from __future__ import annotations

from ..model.boundary import Box, Cylinder
from .config import Config, ConfigError
from ..model.diffusion import BrokenPowerLaw, CRPropaLaw, FieldAligned
from ..core.grid import Grid, log_energy_axis


def build_grid(cfg: Config) -> Grid:
    try:
        grid = Grid.from_mesh(cfg.grid.mesh)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"config key 'grid.mesh' = {cfg.grid.mesh!r}: {exc}") from None
    g = cfg.grid
    if g.n_E or g.E_min_GeV or g.E_max_GeV:
        E = grid.E_GeV
        grid = grid.with_energies(log_energy_axis(g.E_min_GeV or E[0], g.E_max_GeV or E[-1], g.n_E or E.size))
    return grid


_FIELDS: dict[str, object] = {}


def build_field(cfg: Config):
    """The config's field model, one object per [field] section, wrapped so that the per-ε solves of
    a study evaluate it once on the grid vertices (:class:`fpgal.fields.base.RepeatEvaluations`)."""
    from ..model.fields.base import RepeatEvaluations
    key = cfg.section_text("field")
    if key not in _FIELDS:
        _FIELDS[key] = RepeatEvaluations(_new_field(cfg))
    return _FIELDS[key]


def _new_field(cfg: Config):
    from ..model.fields import field_from_name
    try:
        return field_from_name(cfg.field.model, **cfg.field.params)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"config key 'field.model' = {cfg.field.model!r} (params {cfg.field.params}): {exc}") from None


def build_d_par(cfg: Config) -> BrokenPowerLaw | CRPropaLaw:
    d = cfg.diffusion
    if d.law == "crpropa":
        return CRPropaLaw(d.D0_cm2_s)
    return BrokenPowerLaw(d.D0_cm2_s, d.E_br_GeV, d.gamma1, d.gamma2)


def build_tensor(cfg: Config, epsilon: float, field=None) -> FieldAligned:
    return FieldAligned(build_field(cfg) if field is None else field, epsilon, build_d_par(cfg))


def build_source(cfg: Config):
    from ..model.sources import source_from_name
    try:
        return source_from_name(cfg.source.distribution, **cfg.source.params)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"config key 'source.distribution' = {cfg.source.distribution!r} "
                          f"(params {cfg.source.params}): {exc}") from None


def build_spectrum(cfg: Config):
    """The reference injection spectrum Q_E(E) of the solves (paper eq. 2 in momentum, per unit kinetic energy)."""
    from ..model.spectra import spectrum_from_config
    try:
        return spectrum_from_config(cfg.spectrum)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config section [spectrum]: {exc}") from None


def build_boundary(cfg: Config):
    b = cfg.boundary
    return Cylinder(b.R_kpc, b.H_kpc) if b.type == "cylinder" else Box()


def build_gas(cfg: Config, name: str | None = None):
    from ..emission.gas import gas_from_name
    name = name or cfg.skymap.gas
    try:
        return gas_from_name(name, sun_distance_kpc=cfg.observer.sun_distance_kpc)
    except TypeError:
        return gas_from_name(name)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"gas model {name!r}: {exc}") from None
