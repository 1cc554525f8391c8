"""The reference tables shipped in fpgal/core/data: lookup order, the table format, and the converter that makes them."""
from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import fpgal
from fpgal.data import (FORMAT, HEADER_KEYS, SUBDIRS, DataNotFoundError, TableFormatError, data_dir, data_file,
                        list_tables, packaged_data_dir, read_header, read_table, write_table)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(fpgal.__file__).resolve().parent


def _packaged() -> list[Path]:
    return [Path(str(p)) for sub in SUBDIRS for p in list_tables(sub)]


def _meta(**changes) -> dict:
    meta = dict(format=FORMAT, dataset="Test-1", experiment="Test", reference="nobody (2026)", species="H",
                quantity="flux", quantity_units="GeV^-1 m^-2 s^-1 sr^-1", abscissa="kineticEnergy",
                abscissa_units="GeV", columns="x flux stat_lo stat_hi sys_lo sys_hi", source="this test",
                comment="synthetic")
    meta.update(changes)
    return meta


# ------------------------------------------------------------------------------------ lookup


def test_default_is_the_packaged_tables():
    d = data_dir()
    assert d == packaged_data_dir()
    assert Path(str(d)).resolve() == PACKAGE / "core" / "data"
    for sub in SUBDIRS:
        assert (d / sub).is_dir() and list_tables(sub), sub
    assert data_file("gamma_rays/LHAASO-KM2A_2023_inner.txt").is_file()
    assert data_file("neutrinos/IceCube2023_GP_KRA-gamma-5PeV.txt").is_file()


def test_package_never_refers_to_the_shared_folder():
    """Fresh clones have no ../shared: nothing in the package may point there."""
    hits = [str(p.relative_to(REPO)) for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in (".py", ".txt", ".toml")
            and re.search(r"shared/data|\.\./shared", p.read_text(encoding="utf-8"))]
    assert hits == []


def test_env_var_and_explicit_override(monkeypatch, tmp_path):
    env, explicit = tmp_path / "env", tmp_path / "explicit"
    env.mkdir(), explicit.mkdir()
    monkeypatch.setenv("FPGAL_DATA", str(env))
    assert data_dir() == env
    assert data_dir(explicit) == explicit                     # the config key wins over the environment
    monkeypatch.delenv("FPGAL_DATA")
    assert data_dir() == packaged_data_dir()


def test_missing_override_folder_is_a_clear_error(monkeypatch, tmp_path):
    missing = tmp_path / "nope"
    monkeypatch.setenv("FPGAL_DATA", str(missing))
    with pytest.raises(DataNotFoundError, match=rf"{re.escape(str(missing))}.*FPGAL_DATA.*cosmic_rays/"):
        data_dir()
    with pytest.raises(DataNotFoundError, match="data_dir setting"):
        data_dir(missing)
    with pytest.raises(DataNotFoundError, match="'gmf/none.txt' not found"):
        data_file("gmf/none.txt", explicit=tmp_path)
    with pytest.raises(DataNotFoundError, match="no gamma_rays/ folder"):
        list_tables("gamma_rays", tmp_path)


# ------------------------------------------------------------------------------------ the format


def test_every_packaged_table_has_the_same_header_keys():
    tables = _packaged()
    assert len(tables) >= 29
    for path in tables:
        text = path.read_text(encoding="utf-8").splitlines()
        keys = [re.match(r"# (\w+):", ln).group(1) for ln in text if ln.startswith("#")]
        assert keys == list(HEADER_KEYS), path.name
        meta = read_header(path)
        assert meta["format"] == FORMAT
        assert "converted by tools/import_reference_data.py" in meta["source"], path.name
        assert re.search(r"carmeloevoli/(KISS-CosmicRayDataBase|The_CR_Spectrum)", meta["source"]), path.name
        assert meta["reference"] and meta["quantity_units"] and meta["abscissa_units"], path.name
        t = read_table(path)
        assert t.data.shape[1] == len(t.columns) and t.data.shape[0] > 0


def test_write_read_round_trip_is_exact(tmp_path, rng):
    data = rng.lognormal(0.0, 20.0, (50, 6)) * rng.choice([1.0, 1.0 / 3.0], (50, 6))
    data[0, 2:] = 0.0
    path = write_table(tmp_path / "t.txt", _meta(), data)
    back = read_table(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.meta == _meta() and back.columns == ("x", "flux", "stat_lo", "stat_hi", "sys_lo", "sys_hi")
    np.testing.assert_array_equal(back.column("flux"), data[:, 1])
    with pytest.raises(TableFormatError, match="no column 'y'"):
        back.column("y")


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("# species: H\n", ""), r"lacks the keys \['species'\]"),
    (lambda t: t.replace(FORMAT, "fpgal-table-9"), "format 'fpgal-table-9'; expected 'fpgal-table-1'"),
    (lambda t: t.replace("# source: this test", "# source this test"), "not of the form '# key: value'"),
    (lambda t: t + "1.0 2.0 3.0\n", r":15: 3 values; expected 6"),
    (lambda t: t + "1.0 2.0 3.0 x 5 6\n", r":15: non-numeric value"),
    (lambda t: t + "1.0 2.0 3.0 nan 5 6\n", "non-finite"),
    (lambda t: t.split("\n1")[0] + "\n", "no data rows"),
])
def test_format_errors_name_file_and_problem(tmp_path, edit, message):
    path = write_table(tmp_path / "t.txt", _meta(), np.ones((2, 6)))
    path.write_text(edit(path.read_text()))
    with pytest.raises(TableFormatError, match=message):
        read_table(path)


def test_writer_refuses_inconsistent_tables(tmp_path):
    with pytest.raises(TableFormatError, match=r"shape \(2, 5\); expected \(n_rows ≥ 1, 6\)"):
        write_table(tmp_path / "t.txt", _meta(), np.ones((2, 5)))
    with pytest.raises(TableFormatError, match=r"lacks the keys \['comment'\]"):
        write_table(tmp_path / "t.txt", {k: v for k, v in _meta().items() if k != "comment"}, np.ones((2, 6)))


# ------------------------------------------------------------------------------------ the converter


def _converter():
    spec = importlib.util.spec_from_file_location("import_reference_data", REPO / "tools" / "import_reference_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_converter_reproduces_the_packaged_tables(published_sample, tmp_path, capsys):
    """tools/import_reference_data.py on unmodified published files writes exactly the committed tables."""
    conv = _converter()
    written = conv.write_all(conv.convert_folder(published_sample), tmp_path)
    assert len(written) == 12
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (PACKAGE / "core" / "data" / rel).read_bytes(), rel
    assert conv.main([str(published_sample), "--check"]) == 0
    assert "12 of 12 tables up to date" in capsys.readouterr().out


def test_converter_check_reports_stale_tables(published_sample, tmp_path, capsys):
    conv = _converter()
    out = tmp_path / "out"
    conv.main([str(published_sample), "--out", str(out)])
    stale = out / "gamma_rays" / "LHAASO-KM2A_2023_outer.txt"
    stale.write_text(stale.read_text().replace("1.20e-13", "1.21e-13").replace("1.2e-13", "1.21e-13"))
    assert conv.main([str(published_sample), "--out", str(out), "--check"]) == 1
    assert "differs: " + str(stale) in capsys.readouterr().out


def test_converter_refuses_files_it_does_not_know(published_sample, tmp_path):
    conv = _converter()
    src = tmp_path / "src"
    shutil.copytree(published_sample, src)
    (src / "gamma_rays" / "HAWC_2024.txt").write_text("1 2\n")
    with pytest.raises(ValueError, match="gamma_rays/HAWC_2024.txt: no catalogue entry"):
        conv.convert_folder(src)


def test_docs_list_every_shipped_table():
    doc = (REPO / "docs" / "data.md").read_text(encoding="utf-8")
    missing = [p.name for p in _packaged() if p.name not in doc]
    assert missing == []
