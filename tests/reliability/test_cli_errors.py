"""CLI errors: one line ``fpgal: <what>: <why>`` naming the key or file, exit 2 for usage/config, 1 at run time;
every config cross-check happens before any stage runs (nothing is written)."""
from __future__ import annotations

import json
import logging
import os
import signal

import numpy as np
import pytest

from fpgal import __version__
from fpgal.cli import main
from _studies import milky_way_mesh

TINY_MESH = milky_way_mesh(8, 4, 5)


@pytest.fixture(autouse=True)
def keep_sigterm_and_logging():
    """main() installs fpgal's SIGTERM handler and a log handler on the (captured) stderr; undo both."""
    before = signal.getsignal(signal.SIGTERM)
    logger = logging.getLogger("fpgal")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    signal.signal(signal.SIGTERM, before)
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def study(tmp_path):
    """A tiny study file; its output folder must stay absent when a check fails."""
    mesh = tmp_path / "tiny.toml"
    mesh.write_text(TINY_MESH)
    cfg = tmp_path / "study.toml"
    cfg.write_text(f'output_dir = "{tmp_path / "out"}"\n[grid]\nmesh = "{mesh}"\n[diffusion]\nepsilon = [0.1]\n'
                   '[fit]\nexperiments = ["AMS-02-2021"]\nfree = ["Q0"]\n[skymap]\nnside = 4\n')
    return cfg


@pytest.fixture
def cr_file(tmp_path):
    """A small CRDensity file without errors (as a grid solution)."""
    from fpgal.grid import Grid
    from fpgal.result import CRDensity
    mesh = tmp_path / "cr_mesh.toml"
    mesh.write_text(TINY_MESH)
    grid = Grid.from_mesh(str(mesh))
    n = np.ones((grid.n_E, *grid.shape)) * np.geomspace(1.0, 1e-6, grid.n_E)[:, None, None, None]
    path = tmp_path / "cr.h5"
    CRDensity(grid, n, meta={"epsilon": 0.1}).save(path)
    return path


def run_cli(args, capsys) -> tuple[int, str, str]:
    """``fpgal ARGS`` in this process: (exit status, stdout, stderr); argparse's SystemExit counts too."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("fpgal")]


def assert_one_line(err: str, *fragments: str) -> str:
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def test_version(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"fpgal {__version__}"


def test_empty_config_file_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing here\n")
    code, _, err = run_cli(["run", empty], capsys)
    assert code == 2
    assert_one_line(err, "empty.toml", "is empty; omit the file to run the embedded default study")


def test_invalid_toml_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text("[grid\nmesh = 1\n")
    code, _, err = run_cli(["solve", bad], capsys)
    assert code == 2
    assert_one_line(err, "broken.toml", "not valid TOML")


@pytest.mark.parametrize("argv, fragment", [
    (["sde", "{cfg}", "--n-particles", "0"], "argument --n-particles: '0': expected an integer >= 1"),
    (["sde", "{cfg}", "--n-particles", "-5"], "argument --n-particles: '-5': expected an integer >= 1"),
    (["sde", "{cfg}", "--seed", "-1"], "argument --seed: '-1': expected an integer >= 0"),
    (["solve", "{cfg}", "--epsilon", "0"], "argument --epsilon: '0': expected a number > 0 and <= 1"),
    (["sde", "{cfg}", "--epsilon", "2"], "argument --epsilon: '2': expected a number > 0 and <= 1"),
    (["plot", "cr", "x.h5", "--energy-GeV", "-1"], "argument --energy-GeV: '-1': expected a number > 0"),
    (["run", "--np", "zero"], "argument --np"),
])
def test_bad_cli_values_are_usage_errors(study, capsys, argv, fragment):
    code, _, err = run_cli([a.format(cfg=study) for a in argv], capsys)
    assert code == 2
    assert_one_line(err, fragment)


@pytest.mark.parametrize("setting, fragments", [
    ("grid.mesh.x=1", ["--set 'grid.mesh.x'", "'grid.mesh'", "is a value, not a section"]),
    ("fit.experiments.0=1", ["--set 'fit.experiments.0'", "is a value, not a section"]),
    ("=1", ["--set '=1': expected KEY=VALUE"]),
    ("grid..mesh=1", ["--set 'grid..mesh'", "no empty parts"]),
    ("gridd.mesh=1", ["unknown config key(s) 'gridd'"]),
])
def test_bad_set_paths(study, tmp_path, capsys, setting, fragments):
    code, _, err = run_cli(["run", study, "--set", setting], capsys)
    assert code == 2
    assert_one_line(err, "configuration error", *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting, fragments", [
    ('source.distribution="nosuch"', ["'source.distribution' = 'nosuch'", "known: "]),
    ('grid.mesh="nosuch-mesh"', ["'grid.mesh' = 'nosuch-mesh'", "known meshes"]),
    ('skymap.gas="nosuch"', ["gas model 'nosuch'", "known: "]),
    ('losses.gas="nosuch"', ["gas model 'nosuch'"]),
    ('field.model="nosuch"', ["'field.model' = 'nosuch'"]),
    ('fit.experiments=["AMS-02-2021", "NOPE"]', ["'fit.experiments'", "unknown CR data set 'NOPE'", "available: "]),
    ("grid.E_min_GeV=1e8", ["'grid.E_min_GeV' = 1e+08", "expected 0 < E_min_GeV <= E_max_GeV"]),
    ("grid.E_min_GeV=100.0 --set grid.E_max_GeV=100.0", ["'grid.E_min_GeV' = 100.0", "expected E_min_GeV < E_max_GeV"]),
    ("fit.E_min_GeV=1e7 --set fit.E_max_GeV=1e8", ["'fit.E_min_GeV' = 1e+07", "misses the grid's energies"]),
])
def test_names_and_ranges_are_checked_before_any_stage(study, tmp_path, capsys, setting, fragments):
    extra = []
    for i, part in enumerate(setting.split(" --set ")):
        extra += ["--set", part]
    if setting.startswith("losses"):
        extra += ["--set", "losses.pp=true"]
    code, _, err = run_cli(["run", study, *extra], capsys)
    assert code == 2, err
    assert_one_line(err, "fpgal: configuration error:", *fragments)
    assert not (tmp_path / "out").exists()      # found before the first stage: nothing written


def test_missing_and_corrupt_input_files_are_named(study, tmp_path, capsys, cr_file):
    missing = tmp_path / "nosuch.h5"
    code, _, err = run_cli(["fit", study, missing], capsys)
    assert code == 1
    assert_one_line(err, f"CR density file '{missing}': no such file")

    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)     # truncated HDF5
    code, _, err = run_cli(["skymap", study, corrupt], capsys)
    assert code == 1
    assert_one_line(err, f"CR density file '{corrupt}': not a readable fpgal CR density")

    code, _, err = run_cli(["compare", cr_file, corrupt, "-o", tmp_path / "cmp"], capsys)
    assert code == 1
    assert_one_line(err, f"CR density '{corrupt}'")

    fit = tmp_path / "fit.json"
    fit.write_text('{"chi2": 1.0}')
    code, _, err = run_cli(["skymap", study, cr_file, "--fit", fit], capsys)
    assert code == 1
    assert_one_line(err, f"fit result '{fit}'", "KeyError")

    code, _, err = run_cli(["plot", "map", corrupt], capsys)
    assert code == 1
    assert_one_line(err, f"map file '{corrupt}'")


def test_debug_prints_the_traceback(study, tmp_path, capsys):
    missing = tmp_path / "nosuch.h5"
    code, _, err = run_cli(["--debug", "fit", study, missing], capsys)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert f"fpgal: CR density file '{missing}': no such file" in err


def test_output_folder_that_cannot_be_written(study, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["run", study, "--stages", "summary", "--output-dir", blocker / "out"], capsys)
    assert code == 1
    assert_one_line(err, f"output folder '{blocker / 'out'}' is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(study, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run_cli(["run", study, "--stages", "summary", "--output-dir", ro], capsys)
    finally:
        ro.chmod(0o700)
    assert code == 1
    assert_one_line(err, f"output folder '{ro}' is not writable", "ermission denied")


def test_compare_a_file_with_itself_writes_no_nan(cr_file, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(["compare", cr_file, cr_file, "-o", out], capsys)
    assert code == 0, err

    def no_nan(token):
        raise AssertionError(f"non-JSON number {token} in the compare output")
    printed = json.loads(stdout[:stdout.rindex("}") + 1], parse_constant=no_nan)
    saved = json.loads((out / "compare_summary.json").read_text(), parse_constant=no_nan)
    for summary in (printed, saved):
        assert summary["chi2_dof"] is None and "no well-populated cell" in summary["note"]
        assert summary["n_cells"] == 0
    assert "nan" not in (out / "compare_report.txt").read_text().lower()
    assert "not defined" in (out / "compare_report.txt").read_text()
