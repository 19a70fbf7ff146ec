"""What the batch scorer scores: folder walking, class-folder labels, the plan of mixed inputs and
its batches."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scorer.sources import Batch, Unreadable, folder_files, label_from_folder, plan, walk_folders
from tests.scorer.samples import (CLASSES, FOLDER_NAMES, real_sample, unprivileged, write_class_folders,
                                    write_idx_pair)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 40)


@pytest.mark.parametrize("folder, expected", [
    ("T-shirt_top", 0), ("tshirt-top", 0), ("T-shirt", 0), ("ankle boot", 9), ("Ankle_Boot", 9),
    ("sneaker", 7), ("7", 7), ("photos", None), ("12", None),
])
def test_label_from_folder(folder, expected):
    assert label_from_folder(Path("data") / folder / "a.png", CLASSES) == expected


def test_no_folder_no_label():
    assert label_from_folder(Path("a.png"), CLASSES) is None
    assert [label_from_folder(Path(name) / "x.png", CLASSES) for name in FOLDER_NAMES] == list(range(10))


def walk_images(root: Path):
    """Image files under `root`, one Path each, in `walk_folders` order: what folder_files must name."""
    for entry in walk_folders(root):
        if not isinstance(entry, Unreadable):
            folder, names = entry
            yield from (folder / name for name in names)


def test_walk_sorted_recursive_and_symlink_loop_safe(tmp_path, sample):
    images, labels = sample
    write_class_folders(tmp_path / "data", images[:12], labels[:12], formats=("png", "jpg", "bmp"))
    (tmp_path / "data" / "notes.txt").write_text("not an image")
    os.symlink(tmp_path / "data", tmp_path / "data" / "bag" / "loop")  # a loop back to the top
    os.symlink(tmp_path / "data" / "sneaker", tmp_path / "data" / "zz-link")  # a second way in
    found = list(walk_images(tmp_path / "data"))
    assert len(found) == 12 == len(set(found))
    assert all(path.suffix in (".png", ".jpg", ".bmp") for path in found)
    assert [p.parent.name for p in found] == sorted(p.parent.name for p in found)


@pytest.mark.parametrize("root", [".", "data", "./data/", "data/../data"])
def test_folder_files_name_and_label_like_walk_images(tmp_path, sample, monkeypatch, root):
    """plan takes paths and labels per folder: the same text and label as per file from walk_images."""
    images, labels = sample
    write_class_folders(tmp_path / "data", images[:12], labels[:12], formats=("png", "jpg"))
    (tmp_path / "data" / "..png").write_bytes(b"")  # Path.suffix says .png: kept alike
    (tmp_path / "data" / "x.png.").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    expected = [(str(path), label_from_folder(path, CLASSES)) for path in walk_images(Path(root))]
    assert list(folder_files(Path(root), CLASSES)) == expected and len(expected) == 13
    assert sorted(label for _, label in expected if label is not None) == sorted(labels[:12].tolist())


def test_plan_keeps_input_order_and_labels(tmp_path, sample):
    images, labels = sample
    write_class_folders(tmp_path / "folder", images[:10], labels[:10])
    idx = write_idx_pair(tmp_path / "idx", images[:5], labels[:5])
    np.save(tmp_path / "a.npy", images[:3])
    sources = plan([str(tmp_path / "folder"), str(idx), str(tmp_path / "missing.png"),
                    str(tmp_path / "a.npy")], CLASSES)
    assert [s.count for s in sources] == [10, 5, 1, 3]
    assert sorted(label for _, label in sources[0].files) == sorted(labels[:10].tolist())
    assert sources[2].error == "no such file or directory"
    batches = [b for s in sources for b in s.batches(4)]
    assert [len(b) for b in batches] == [4, 4, 2, 4, 1, 1, 3]
    assert batches[3].indices == [0, 1, 2, 3] and batches[3].labels == labels[:4].tolist()
    assert batches[-1].labels == [None] * 3


PLAN = """import json, sys
from scorer.sources import plan
print(json.dumps([[s.path, s.error, [p for p, _ in s.files or []]] for s in plan(sys.argv[1:], [])]))"""


def test_folders_that_cannot_be_read_are_error_rows_in_their_place(tmp_path, sample):
    """chmod 000 holds for root too under setpriv without the capabilities that bypass it."""
    images, labels = sample
    root = tmp_path / "data"
    for name in ("a", "b", "c"):
        write_class_folders(root / name, images[:2], labels[:2])
    locked, sealed = root / "b", tmp_path / "sealed"
    sealed.mkdir()
    (sealed / "x.png").write_bytes(b"")
    os.chmod(locked, 0)
    os.chmod(sealed, 0)
    try:
        result = subprocess.run(unprivileged([sys.executable, "-c", PLAN, str(root), str(sealed),
                                              str(sealed / "x.png")]),
                                cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    finally:
        os.chmod(locked, 0o755)
        os.chmod(sealed, 0o755)
    sources = json.loads(result.stdout)
    assert [(path, error) for path, error, _ in sources] == [
        (None, None), (str(locked), "cannot read the folder: Permission denied"), (None, None),
        (str(sealed), "cannot read the folder: Permission denied"),
        (str(sealed / "x.png"), "cannot read: Permission denied")]
    assert [Path(p).relative_to(root).parts[0] for p in sources[0][2]] == ["a", "a"]
    assert [Path(p).relative_to(root).parts[0] for p in sources[2][2]] == ["c", "c"]


def test_batch_results_put_predictions_around_the_error_rows():
    """Batch.ok / Batch.results: the one place that rebuilds a batch's rows around its errors
    (the local model and the service both use it)."""
    batch = Batch(["a", "b", "c", "d"], [None] * 4, [None] * 4,
                  errors=["unreadable", None, "empty", None])
    assert batch.ok() == [1, 3]
    assert batch.results([1, 3], [{"label": "Bag"}, {"label": "Coat"}]) == [
        {"error": "unreadable"}, {"label": "Bag"}, {"error": "empty"}, {"label": "Coat"}]
    clean = Batch(["a", "b"], [0, 1], [None, None], errors=[None, None])
    assert clean.ok() == [0, 1] and clean.results([0, 1], [{"label": "Bag"}, {"label": "Coat"}]) == [
        {"label": "Bag"}, {"label": "Coat"}]
    failed = Batch(["x"], [None], [None], errors=["no such file or directory"])
    assert failed.ok() == [] and failed.results([], []) == [{"error": "no such file or directory"}]
