"""CPU binding of MPI ranks: launcher flags, overlap detection, the warning, and `fpgal info` under mpiexec."""
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fpgal import affinity
from fpgal.affinity import bind_to_core_args, ranks_sharing_cpus, warn_if_ranks_share_cpus

VENV_BIN = Path(sys.executable).parent


def _fake_launcher(tmp_path: Path, version_text: str) -> str:
    exe = tmp_path / "mpiexec"
    exe.write_text(f"#!/bin/sh\necho '{version_text}'\n")
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.parametrize("text, expected", [
    ("HYDRA build details:\n    Version: 4.0.2", ["-bind-to", "core"]),
    ("mpirun (Open MPI) 4.1.4", ["--bind-to", "core"]),
    ("Intel(R) MPI Library ... some other launcher", []),
])
def test_bind_flag_per_launcher(tmp_path, text, expected):
    assert bind_to_core_args(_fake_launcher(tmp_path, text)) == expected


def test_missing_launcher_gives_no_flag(tmp_path):
    assert bind_to_core_args(str(tmp_path / "no-such-mpiexec")) == []


def test_overlap_only_between_ranks_on_one_host():
    a, b, ab = frozenset({0}), frozenset({1}), frozenset({0, 1})
    assert ranks_sharing_cpus([("n1", a), ("n1", b)]) == []            # bound: one core each
    assert ranks_sharing_cpus([("n1", ab), ("n1", ab)]) == [(0, 1)]    # unbound: both may use both
    assert ranks_sharing_cpus([("n1", ab), ("n2", ab)]) == []          # different hosts never compete
    assert ranks_sharing_cpus([("n1", a), ("n1", b), ("n1", ab)]) == [(0, 2), (1, 2)]
    assert ranks_sharing_cpus([("n1", None), ("n1", ab)]) == []        # unknown placement: no claim


class _FakeComm:
    """The two mpi4py calls the check uses, with fixed placements for ranks 0 and 1."""

    def __init__(self, placements):
        self.placements = placements

    def Get_size(self):
        return len(self.placements)

    def Get_rank(self):
        return 0

    def allgather(self, _mine):
        return self.placements


@pytest.fixture
def fpgal_log(monkeypatch, caplog):
    """caplog that sees the fpgal logger (which does not propagate once the CLI configured it)."""
    monkeypatch.setattr(logging.getLogger("fpgal"), "propagate", True)
    monkeypatch.setattr(affinity, "_WARNED", False)
    return caplog


def test_warning_names_ranks_cpus_and_the_fix(fpgal_log):
    caplog = fpgal_log
    with caplog.at_level(logging.WARNING, logger="fpgal"):
        pairs = warn_if_ranks_share_cpus(_FakeComm([("vm", frozenset({0, 1})), ("vm", frozenset({0, 1}))]))
    assert pairs == [(0, 1)]
    text = caplog.text
    assert "ranks 0 and 1" in text and "{0,1}" in text and "-bind-to core" in text and "--bind-to core" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fpgal"):     # once per process
        warn_if_ranks_share_cpus(_FakeComm([("vm", frozenset({0, 1})), ("vm", frozenset({0, 1}))]))
    assert "bind" not in caplog.text


def test_bound_ranks_do_not_warn(fpgal_log):
    caplog = fpgal_log
    with caplog.at_level(logging.WARNING, logger="fpgal"):
        assert warn_if_ranks_share_cpus(_FakeComm([("vm", frozenset({0})), ("vm", frozenset({1}))])) == []
    assert caplog.text == ""


@pytest.mark.mpi
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to bind two ranks apart")
def test_info_shows_ranks_bound_apart():
    mpiexec = shutil.which("mpiexec") or "mpiexec"
    out = subprocess.run([mpiexec, *bind_to_core_args(mpiexec), "-n", "2", sys.executable, "-m", "fpgal", "info"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("CPU binding:"))
    assert "rank 0:" in line and "rank 1:" in line
    assert "share CPUs" not in line
