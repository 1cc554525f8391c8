"""Command line: ``fpgal SUBCOMMAND ...`` (also ``python -m fpgal``).

PETSc options pass through after the positional arguments, e.g.
``fpgal solve study.toml -ksp_type cg -pc_type gamg -ksp_monitor``.
"""
from __future__ import annotations

import argparse
import sys

from .petsc_options import split_petsc_args

EPILOG = ("PETSc options (-ksp_type, -pc_type, -ksp_monitor, -log_view, ...) may follow the positional "
          "arguments of solve/run and override the [solver] table of the config.")


def _add_config(p: argparse.ArgumentParser, required: bool = True) -> None:
    if required:
        p.add_argument("config", help="study configuration (TOML); see docs/config.md")
    else:
        p.add_argument("config", nargs="?", default=None,
                       help="study configuration (TOML); default: the embedded default study")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set grid.mesh=milkyway-0.5kpc (TOML syntax for VALUE)")
    p.add_argument("--output-dir", help="override the config's output_dir")


def _add_np(p: argparse.ArgumentParser) -> None:
    p.add_argument("--np", metavar="N", help="run on N MPI ranks (N or 'auto' = all CPUs): fpgal launches itself "
                   "with `mpiexec -bind-to core -n N`; one rank if no launcher is found")


def _without_np(argv: list[str]) -> list[str]:
    """``argv`` less ``--np N`` / ``--np=N`` (the relaunched ranks must not launch again)."""
    out, skip = [], False
    for tok in argv:
        if skip:
            skip = False
        elif tok == "--np":
            skip = True
        elif not tok.startswith("--np="):
            out.append(tok)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fpgal", epilog=EPILOG,
        description="Galactic cosmic-ray transport on a grid (anisotropic diffusion, PETSc) and the gamma-ray sky.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("info", help="versions, PETSc configuration, MPI size")
    p.add_argument("--petsc-config", action="store_true", help="also print PETSc's configure options")
    _add_np(p)

    p = sub.add_parser("run", help="the whole study: solve for each ε → fit → sky maps → ratios → spectra → summary",
                       epilog=EPILOG)
    _add_config(p, required=False)
    p.add_argument("--force", action="store_true", help="recompute every stage even if its outputs are current")
    p.add_argument("--stages", default="", help="comma-separated subset of stages to run (default: all)")
    _add_np(p)

    p = sub.add_parser("solve", help="steady-state grid solution (PETSc) for each ε of the config", epilog=EPILOG)
    _add_config(p)
    p.add_argument("--epsilon", type=float, action="append", help="solve only this ε (repeatable)")
    p.add_argument("-o", "--out", help="output HDF5 file (single ε) or folder (default: <output_dir>/cr)")
    _add_np(p)

    p = sub.add_parser("sde", help="stochastic (SDE) solution of the same problem (cross-check)")
    _add_config(p)
    p.add_argument("--epsilon", type=float, help="ε (default: the first of the config)")
    p.add_argument("--n-particles", type=int, help="override sde.n_particles")
    p.add_argument("--seed", type=int, help="override sde.seed")
    p.add_argument("--mode", choices=("ito", "crpropa"), help="override sde.mode")
    p.add_argument("-o", "--out", help="output HDF5 file (default: <output_dir>/sde/sde_eps_<ε>.h5)")
    _add_np(p)

    p = sub.add_parser("fit", help="fit the injection spectrum Q(p) to the local proton data")
    _add_config(p)
    p.add_argument("cr", nargs="+", help="CRDensity HDF5 file(s) from `fpgal solve` (one per ε)")
    p.add_argument("-o", "--out", help="output folder (default: <output_dir>/fit)")

    p = sub.add_parser("skymap", help="gamma-ray (or neutrino) HEALPix maps and regional spectra from a CR density")
    _add_config(p)
    p.add_argument("cr", help="CRDensity HDF5 file (rescaled by a fit if --fit is given)")
    p.add_argument("--fit", help="fit result JSON from `fpgal fit` to rescale the CR density")
    p.add_argument("-o", "--out", help="output folder (default: <output_dir>/skymaps)")

    p = sub.add_parser("compare", help="compare two CR densities (grid vs SDE): pulls, χ²/dof, ratio maps")
    p.add_argument("reference", help="CRDensity HDF5 (e.g. grid solution)")
    p.add_argument("other", help="CRDensity HDF5 with errors (e.g. SDE solution)")
    p.add_argument("-o", "--out", default="compare", help="report folder (default: ./compare)")

    p = sub.add_parser("plot", help="plots from saved results")
    psub = p.add_subparsers(dest="what", metavar="WHAT")
    pf = psub.add_parser("field", help="field lines face-on (z=0) and edge-on (y=0) with |B| (like Fig. 1)")
    pf.add_argument("--model", action="append", help="field model name(s), e.g. uf23:base, jf12-solenoidal")
    pf.add_argument("-o", "--out", default=".", help="output folder")
    pm = psub.add_parser("map", help="Mollweide plot of a HEALPix map file (FITS or fpgal HDF5)")
    pm.add_argument("path")
    pm.add_argument("--ratio-to", help="second map: plot path/ratio_to")
    pm.add_argument("-o", "--out", help="output PNG")
    pc = psub.add_parser("cr", help="face-on / edge-on slices and local spectrum of a CR density file")
    pc.add_argument("path")
    pc.add_argument("--energy-GeV", type=float, default=1000.0)
    pc.add_argument("-o", "--out", help="output PNG")

    p = sub.add_parser("info-field", help="divergence diagnostic of a field model on a mesh")
    p.add_argument("--model", default="uf23:base", help="field model name")
    p.add_argument("--mesh", default="milkyway-0.5kpc", help="mesh name")
    return parser


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    ours, petsc = split_petsc_args(raw)
    parser = build_parser()
    args = parser.parse_args(ours)
    from .log import setup_logging
    setup_logging("DEBUG" if args.verbose else "WARNING" if args.quiet else "INFO")
    if args.command is None:
        parser.print_help()
        return 2
    if petsc and args.command not in ("solve", "run", "sde"):
        parser.error(f"PETSc options {sorted(petsc)} only apply to solve, run and sde")
    if getattr(args, "np", None):
        from .launch import parse_np, relaunch
        try:
            n_ranks = parse_np(args.np)
        except ValueError as exc:
            parser.error(str(exc))
        try:
            code = relaunch(n_ranks, _without_np(raw))
        except KeyboardInterrupt:
            print("fpgal: interrupted (no partial output was written under a final name)", file=sys.stderr)
            return 130
        if code is not None:
            return code
    from . import commands
    from .config import ConfigError
    handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    try:
        return int(handler(args, petsc) or 0)
    except ConfigError as exc:
        print(f"fpgal: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fpgal: interrupted (no partial output was written under a final name)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
