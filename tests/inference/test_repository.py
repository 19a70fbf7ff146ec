"""The repository layout: which folders are versions, and which version is the newest valid one."""
from __future__ import annotations

import pytest

from inference.errors import ModelLoadError
from inference.repository import list_versions, newest_valid, next_version_number
from tests.model_versions import add_version, break_version


def test_numbered_folders_are_versions_newest_first(tmp_path):
    for name in ("1", "2", "10"):
        (tmp_path / name).mkdir()
    for name in ("0", "01", "v3", ".staging-4", "-1"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert [v.number for v in list_versions(tmp_path)] == [10, 2, 1]
    assert next_version_number(tmp_path) == 11


def test_a_plain_model_folder_is_version_one(trained_model_dir):
    [version] = list_versions(trained_model_dir)
    assert version.number == 1 and version.path == trained_model_dir


def test_missing_or_empty_repository_has_no_versions(tmp_path):
    assert list_versions(tmp_path / "nowhere") == [] and list_versions(tmp_path) == []
    assert next_version_number(tmp_path / "nowhere") == 1


def test_newest_valid_skips_a_broken_newest_version(trained_model_dir, tmp_path):
    add_version(trained_model_dir, tmp_path, 1)
    break_version(add_version(trained_model_dir, tmp_path, 2))
    assert newest_valid(tmp_path, "onnx").number == 1
    assert newest_valid(tmp_path, "onnx", pin=1).number == 1
    with pytest.raises(ModelLoadError, match=r"version 2: .*model.onnx: sha256"):
        newest_valid(tmp_path, "onnx", pin=2)
    with pytest.raises(ModelLoadError, match=r"MODEL_VERSION=3: no version folder"):
        newest_valid(tmp_path, "onnx", pin=3)


def test_nothing_to_serve_names_what_was_expected(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model file not found: .*model.json .*version folders"):
        newest_valid(tmp_path, "onnx")


def test_fingerprint_changes_when_a_file_is_replaced(trained_model_dir, tmp_path):
    folder = add_version(trained_model_dir, tmp_path, 1)
    [version] = list_versions(tmp_path)
    before = version.fingerprint()
    assert version.fingerprint() == before
    break_version(folder)
    assert version.fingerprint() != before
