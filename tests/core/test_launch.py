"""``--np N``: the CLI launches itself under mpiexec with bound ranks, or says why it runs on one rank."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fpgal.cli import _without_np
from fpgal.launch import available_cpus, launch_command, parse_np

VENV_BIN = Path(sys.executable).parent


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_RANK", "PMI_SIZE", "FPGAL_LAUNCHED_BY_FPGAL")}
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    env.update(extra)
    return env


def test_parse_np():
    assert parse_np("3") == 3
    assert parse_np("auto") == available_cpus() >= 1
    for bad in ("0", "-2", "two", ""):
        with pytest.raises(ValueError, match="--np"):
            parse_np(bad)


def test_np_removed_from_relaunched_arguments():
    assert _without_np(["-q", "run", "s.toml", "--np", "2", "--force"]) == ["-q", "run", "s.toml", "--force"]
    assert _without_np(["solve", "--np=auto", "s.toml"]) == ["solve", "s.toml"]


def test_launch_command_binds_ranks():
    cmd = launch_command(2, ["run", "s.toml"], "mpiexec")
    assert cmd[-5:] == [sys.executable, "-m", "fpgal", "run", "s.toml"]
    assert cmd[cmd.index("-n") + 1] == "2"
    assert "core" in cmd          # -bind-to core (MPICH) / --bind-to core (Open MPI)


@pytest.mark.mpi
def test_np_two_runs_on_two_bound_ranks():
    out = subprocess.run([sys.executable, "-m", "fpgal", "info", "--np", "2"], capture_output=True, text=True,
                         timeout=120, env=_env())
    assert out.returncode == 0, out.stderr
    assert "MPI ranks: 2" in out.stdout
    assert "share CPUs" not in out.stdout    # bound: each rank has its own core


def test_np_without_launcher_falls_back_to_one_rank():
    out = subprocess.run([sys.executable, "-m", "fpgal", "info", "--np", "2"], capture_output=True, text=True,
                         timeout=120, env=_env(FPGAL_MPIEXEC="/nonexistent/mpiexec"))
    assert out.returncode == 0, out.stderr
    assert "MPI ranks: 1" in out.stdout
    assert "no mpiexec" in out.stderr and "one rank" in out.stderr


def test_bad_np_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "fpgal", "info", "--np", "zero"], capture_output=True, text=True,
                         timeout=60, env=_env())
    assert out.returncode == 2
    assert "--np 'zero'" in out.stderr
