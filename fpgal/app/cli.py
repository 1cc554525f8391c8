"""Command line: ``fpgal SUBCOMMAND ...`` (also ``python -m fpgal``).

PETSc options pass through after the positional arguments, e.g.
``fpgal solve study.toml -ksp_type cg -pc_type gamg -ksp_monitor``.

Errors end the command with one line ``fpgal: <what>: <why>`` on stderr (``--debug`` adds the
traceback) and exit status 2 for usage and configuration errors, 1 for errors while running, 130
after Ctrl-C (SIGINT) and 143 after SIGTERM. Under MPI every rank ends: the pipeline makes all ranks
raise the same error, rank 0 reports it, and a rank that ends abnormally ends the job
(docs/troubleshooting.md).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback

from ..transport.petsc_options import split_petsc_args

EXIT_RUNTIME, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 1, 2, 130, 143
INTERRUPTED = "fpgal: interrupted (no partial output was written under a final name)"
#: how long a rank other than 0 waits for rank 0 to end the job before it ends it itself
NONROOT_GRACE_S = 3.0


class Terminated(KeyboardInterrupt):
    """SIGTERM (what batch schedulers send): handled like Ctrl-C, exit status 143."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"signal {signum}")


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` (SIGINT already raises KeyboardInterrupt), so both unwind
    through the same clean path: temporary files are removed, nothing is left under a final name.
    (PETSc is initialised with ``-no_signal_handler`` so that it does not replace them.)"""
    signal.signal(signal.SIGTERM, _raise_terminated)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with fpgal's one-line usage errors (``fpgal: <what>: <why>``, exit 2)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        sys.stderr.write(f"fpgal: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def _number(kind: type, lo: float, lo_inclusive: bool = True, hi: float | None = None):
    """argparse type: a ``kind`` number ≥ lo (or > lo) and ≤ hi, with an error naming the range."""
    rng = f"{'>=' if lo_inclusive else '>'} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {what} {rng}") from None
        if value != value or value < lo or (not lo_inclusive and value == lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {what} {rng}")
        return value
    parse.__name__ = f"{kind.__name__} {rng}"
    return parse


POSITIVE_INT = _number(int, 1)
NONNEGATIVE_INT = _number(int, 0)
EPSILON = _number(float, 0.0, lo_inclusive=False, hi=1.0)
POSITIVE = _number(float, 0.0, lo_inclusive=False)
NONNEGATIVE = _number(float, 0.0)


def SPACINGS(text: str) -> list[float]:
    """argparse type: comma-separated positive mesh spacings in kpc, e.g. ``1,0.5,0.25``."""
    try:
        values = [POSITIVE(t.strip()) for t in text.split(",") if t.strip()]
    except argparse.ArgumentTypeError:
        values = []
    if len(values) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least two comma-separated spacings > 0 in kpc, "
                                         "e.g. 1,0.5,0.25")
    return values

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


def _add_info(sub) -> None:
    """``fpgal info``: versions, PETSc configuration, MPI size."""
    p = sub.add_parser("info", help="versions, PETSc configuration, MPI size")
    p.add_argument("--petsc-config", action="store_true", help="also print PETSc's configure options")
    _add_np(p)


def _add_run(sub) -> None:
    """``fpgal run``: the whole study."""
    p = sub.add_parser("run", help="the whole study: solve for each ε → fit → sky maps → ratios → spectra → summary",
                       epilog=EPILOG)
    _add_config(p, required=False)
    p.add_argument("--force", action="store_true", help="recompute every stage even if its outputs are current")
    p.add_argument("--stages", default="", help="comma-separated subset of stages to run (default: all)")
    _add_np(p)


def _add_scan(sub) -> None:
    """``fpgal scan``: every field model × every ε."""
    p = sub.add_parser("scan", help="every field model × every ε of [scan] (solve → fit → maps → χ² against "
                       "LHAASO-KM2A): scan.csv, scan.md, plots (docs/scan.md)", epilog=EPILOG)
    _add_config(p, required=False)
    p.add_argument("--force", action="store_true", help="recompute every (model, ε) even if its outputs are current")
    _add_np(p)


def _add_solve(sub) -> None:
    """``fpgal solve``: the PETSc grid solution for each ε."""
    p = sub.add_parser("solve", help="steady-state grid solution (PETSc) for each ε of the config", epilog=EPILOG)
    _add_config(p)
    p.add_argument("--epsilon", type=EPSILON, action="append", help="solve only this ε in (0, 1] (repeatable)")
    p.add_argument("-o", "--out", help="output HDF5 file (single ε) or folder (default: <output_dir>/cr)")
    _add_np(p)


def _add_sde(sub) -> None:
    """``fpgal sde``: the stochastic cross-check."""
    p = sub.add_parser("sde", help="stochastic (SDE) solution of the same problem (cross-check)")
    _add_config(p)
    p.add_argument("--epsilon", type=EPSILON, help="ε in (0, 1] (default: the first of the config)")
    p.add_argument("--n-particles", type=POSITIVE_INT, help="override sde.n_particles (>= 1)")
    p.add_argument("--seed", type=NONNEGATIVE_INT, help="override sde.seed (>= 0)")
    p.add_argument("--mode", choices=("ito", "crpropa"), help="override sde.mode")
    p.add_argument("-o", "--out", help="output HDF5 file (default: <output_dir>/sde/sde_eps_<ε>.h5)")
    _add_np(p)


def _add_converge(sub) -> None:
    """``fpgal converge``: the study on successively finer meshes."""
    p = sub.add_parser("converge", help="the study on successively finer meshes: change per refinement, observed "
                       "order and Richardson error of every product and finding", epilog=EPILOG)
    _add_config(p, required=False)
    p.add_argument("--meshes", type=SPACINGS, default=[1.0, 0.5, 0.25], metavar="H1,H2,...",
                   help="cubic cell sizes in kpc, coarse to fine with one ratio (default: 1,0.5,0.25; "
                   "0.125 kpc is 6.6e6 cells, ≈ 5 GB)")
    p.add_argument("--out", help="output folder (default: <output_dir>/convergence)")
    _add_np(p)


def _add_products(sub) -> None:
    """``fpgal fit``, ``skymap`` and ``compare``: products from saved CR densities."""
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


def _add_plot(sub) -> None:
    """``fpgal plot field|map|cr``: figures from saved results."""
    p = sub.add_parser("plot", help="plots from saved results")
    psub = p.add_subparsers(dest="what", metavar="WHAT", parser_class=ArgumentParser)
    pf = psub.add_parser("field", help="field lines face-on (z=0) and edge-on (y=0) with |B| (like Fig. 1)")
    pf.add_argument("--model", action="append", help="field model name(s), e.g. uf23:base, jf12-solenoidal")
    pf.add_argument("-o", "--out", default=".", help="output folder")
    pm = psub.add_parser("map", help="Mollweide plot of a HEALPix map file (FITS or fpgal HDF5)")
    pm.add_argument("path")
    pm.add_argument("--ratio-to", help="second map: plot path/ratio_to")
    pm.add_argument("-o", "--out", help="output PNG")
    pc = psub.add_parser("cr", help="face-on / edge-on slices and local spectrum of a CR density file")
    pc.add_argument("path")
    pc.add_argument("--energy-GeV", type=POSITIVE, default=1000.0, help="energy of the slices (> 0)")
    pc.add_argument("-o", "--out", help="output PNG")


def _add_benchmark(sub) -> None:
    """``fpgal benchmark crpropa``: the CRPropa-replica problem in CRPropa's units."""
    p = sub.add_parser("benchmark", help="reference problems in other codes' units (crpropa)")
    bsub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=ArgumentParser)
    pb = bsub.add_parser("crpropa", help="CRPropa-replica problem (docs/validation.md §1): residence-time "
                         "histogram in s per 0.5 kpc cell per injected particle, mean residence, Sun density")
    pb.add_argument("--method", required=True, choices=("grid", "ito", "crpropa"),
                    help="grid (PETSc solve, rebinned) or the SDE in ito / crpropa mode")
    pb.add_argument("--config", help="problem file (default: examples/crpropa_benchmark.toml)")
    pb.add_argument("--mesh-kpc", type=POSITIVE, help="grid method: mesh spacing in kpc (default: the config's mesh)")
    pb.add_argument("--n-particles", type=POSITIVE_INT, help="SDE: particles (default: sde.n_particles)")
    pb.add_argument("--seed", type=NONNEGATIVE_INT, help="SDE: seed (default: sde.seed)")
    pb.add_argument("--step", type=POSITIVE, help="SDE: rms step in kpc passed to the SDE (default: its own choice)")
    pb.add_argument("--lookup-kpc", type=NONNEGATIVE, help="SDE: node spacing of the tensor's lookup table in kpc "
                    "(default: sde.lookup_kpc, else 0.1; 0: evaluate the field at every step, numpy engine)")
    pb.add_argument("--kernel", choices=("auto", "numba", "numpy"), default="auto",
                    help="SDE particle engine (default auto: compiled where it applies)")
    pb.add_argument("--epsilon", type=EPSILON, help="ε in (0, 1] (default: the config's first)")
    pb.add_argument("--compare", metavar="FILE.npy", help="reference histogram (80, 80, 16) in the same units")
    pb.add_argument("--compare-error", metavar="FILE.npy", help="1σ per cell of the reference (default: Poisson-like)")
    pb.add_argument("--compare-particles", type=POSITIVE_INT, default=30000,
                    help="particles of the reference run for the Poisson-like errors (default 30000)")
    pb.add_argument("--out", required=True, help="output folder")
    _add_np(pb)


def _add_info_field(sub) -> None:
    """``fpgal info-field``: divergence diagnostic of a field model."""
    p = sub.add_parser("info-field", help="divergence diagnostic of a field model on a mesh")
    p.add_argument("--model", default="uf23:base", help="field model name")
    p.add_argument("--mesh", default="milkyway-0.5kpc", help="mesh name")


#: the sub-commands in the order ``fpgal --help`` lists them
_SUBCOMMANDS = (_add_info, _add_run, _add_scan, _add_solve, _add_sde, _add_converge, _add_products, _add_plot,
                _add_benchmark, _add_info_field)


def build_parser() -> argparse.ArgumentParser:
    """The ``fpgal`` parser: global flags, then one sub-parser per command (``_SUBCOMMANDS``)."""
    from .. import __version__
    parser = ArgumentParser(
        prog="fpgal", epilog=EPILOG,
        description="Galactic cosmic-ray transport on a grid (anisotropic diffusion, PETSc) and the gamma-ray sky.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error (and debug logging)")
    parser.add_argument("--version", action="version", version=f"fpgal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=ArgumentParser)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser

def main(argv: list[str] | None = None) -> int:
    """Parse, run the subcommand, and turn every way it can end into an exit status and one line."""
    raw = list(sys.argv[1:] if argv is None else argv)
    ours, petsc = split_petsc_args(raw)
    parser = build_parser()
    args = parser.parse_args(ours)
    from ..core.log import setup_logging
    setup_logging("DEBUG" if args.verbose or args.debug else "WARNING" if args.quiet else "INFO")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if petsc and args.command not in ("solve", "run", "sde", "converge", "scan"):
        parser.error(f"PETSc options {sorted(petsc)} only apply to solve, run, sde, converge and scan")
    install_signal_handlers()
    if getattr(args, "np", None):
        from .launch import parse_np, relaunch
        try:
            n_ranks = parse_np(args.np)
        except ValueError as exc:
            parser.error(f"argument --np: {exc}")
        try:
            code = relaunch(n_ranks, _without_np(raw))
        except KeyboardInterrupt as exc:
            print(INTERRUPTED, file=sys.stderr)
            return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
        if code is not None:
            return code
    from . import commands
    handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    try:
        return int(handler(args, petsc) or 0)
    except BaseException as exc:  # noqa: BLE001 - every ending becomes one line and an exit status
        if isinstance(exc, SystemExit):
            raise
        return _end(exc, args.debug)


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status of an exception that ends a command."""
    from .config import ConfigError
    from .pipeline import InputFileError, OutputDirError
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    if isinstance(exc, ConfigError):
        return f"fpgal: configuration error: {exc}", EXIT_USAGE
    if isinstance(exc, (InputFileError, OutputDirError)):
        return f"fpgal: {exc}", EXIT_RUNTIME
    if isinstance(exc, OSError) and exc.filename:
        return f"fpgal: {exc.filename}: {exc.strerror or exc}", EXIT_RUNTIME
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
    return f"fpgal: {type(exc).__name__}: {first} (run with --debug for the traceback)", EXIT_RUNTIME


def _end(exc: BaseException, debug: bool) -> int:
    """Report ``exc`` and return its exit status; under MPI make sure the whole job ends.

    Rank 0 reports and leaves at once without MPI_Finalize, so the launcher ends the other ranks
    even if one of them is stuck in a collective call. Another rank waits a moment for that; if
    rank 0 has not ended the job by then (the error happened on this rank only), it reports its
    own error and ends the job itself."""
    from ..core.log import mpi_rank_size
    line, code = error_line(exc)
    rank, size = mpi_rank_size()
    if size > 1 and rank != 0:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)   # the launcher ending this rank is the expected outcome
        time.sleep(NONROOT_GRACE_S)
        line = f"fpgal (MPI rank {rank}): {line.removeprefix('fpgal: ')}"
    if debug and not isinstance(exc, KeyboardInterrupt):
        traceback.print_exception(exc, file=sys.stderr)
    print(line, file=sys.stderr, flush=True)
    if size > 1:
        sys.stdout.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
