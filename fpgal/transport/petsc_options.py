"""PETSc options: split them off the command line and merge them with the config (command line wins).

Our own CLI options are ``--long`` or single letters (``-v``); anything of the form ``-word_word`` or
``-word`` with 3+ characters (``-ksp_type cg``, ``-pc_type gamg``, ``-ksp_monitor``, ``-log_view``) is a
PETSc option and must come after the positional arguments.
"""
from __future__ import annotations

import re

_PETSC_TOKEN = re.compile(r"^-[A-Za-z][A-Za-z0-9_]+$")
_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")


def split_petsc_args(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Return (our argv, PETSc options dict) from a raw argument list."""
    ours: list[str] = []
    petsc: dict[str, str] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if _PETSC_TOKEN.match(tok) and len(tok) > 2:
            key = tok[1:]
            value = ""
            if i + 1 < len(argv) and (not argv[i + 1].startswith("-") or _NUMBER.match(argv[i + 1])):
                value = argv[i + 1]
                i += 1
            petsc[key] = value
        else:
            ours.append(tok)
        i += 1
    return ours, petsc


def flatten_options(table: dict, prefix: str = "") -> dict[str, str]:
    """Flatten a (nested) TOML table into PETSc option names: {pc: {gamg: {threshold: 0.02}}} → pc_gamg_threshold."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_options(value, name + "_"))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def solver_options(solver_cfg, command_line: dict[str, str] | None = None) -> dict[str, str]:
    """PETSc options from a :class:`fpgal.config.SolverConfig`, overridden by ``command_line``."""
    opts = {"ksp_type": solver_cfg.ksp_type, "pc_type": solver_cfg.pc_type, "ksp_rtol": repr(solver_cfg.rtol),
            "ksp_max_it": str(solver_cfg.max_it)}
    opts.update(flatten_options(solver_cfg.petsc))
    opts.update(command_line or {})
    return opts
