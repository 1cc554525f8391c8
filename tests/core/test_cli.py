"""Command line: help texts, PETSc option pass-through, info under MPI."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fpgal.cli import build_parser, main
from fpgal.petsc_options import flatten_options, split_petsc_args

VENV_BIN = Path(sys.executable).parent


def test_petsc_options_split():
    ours, petsc = split_petsc_args(["solve", "cfg.toml", "--epsilon", "0.1", "-ksp_type", "cg", "-pc_type", "gamg",
                                    "-ksp_monitor", "-ksp_rtol", "1e-12", "-v"])
    assert ours == ["solve", "cfg.toml", "--epsilon", "0.1", "-v"]
    assert petsc == {"ksp_type": "cg", "pc_type": "gamg", "ksp_monitor": "", "ksp_rtol": "1e-12"}
    assert flatten_options({"pc": {"gamg": {"threshold": 0.02}}, "ksp_monitor": True}) == {
        "pc_gamg_threshold": "0.02", "ksp_monitor": "true"}


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices
    for name in ("solve", "sde", "skymap", "fit", "run", "compare", "plot", "info", "info-field"):
        assert name in subs
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage: fpgal " + name in out


def test_config_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[diffusion]\nepsilon = [3.0]\n")
    assert main(["solve", str(bad)]) == 2
    assert "diffusion.epsilon" in capsys.readouterr().err


@pytest.mark.mpi
def test_info_reports_two_ranks():
    mpiexec = "mpiexec"
    out = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "fpgal", "info"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stderr
    assert "MPI ranks: 2" in out.stdout
    assert out.stdout.count("MPI ranks:") == 1   # only rank 0 prints
    assert "PETSc: 3." in out.stdout
