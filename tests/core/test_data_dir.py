import pytest

from fpgal.data import DataNotFoundError, data_dir, data_file


def test_default_data_dir_found():
    d = data_dir()
    assert (d / "gmf" / "uf23_reference.txt").is_file()
    assert data_file("gmf/jf12_reference.txt").is_file()


def test_env_var_and_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("FPGAL_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("FPGAL_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataNotFoundError, match="FPGAL_DATA"):
        data_dir()
    with pytest.raises(DataNotFoundError, match="not found"):
        data_file("gmf/none.txt", explicit=tmp_path)
