"""The batch scorer's inputs: IDX, .npy and CSV readers, folder walking and class-folder labels."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.preprocess import pixels_to_array
from app.score.readers import ArrayReadError, labels_path_for, read_csv, read_idx, read_npy
from app.score.sources import folder_files, label_from_folder, plan, walk_images
from tests.app.score.samples import CLASSES, FOLDER_NAMES, real_sample, write_class_folders, write_csv, \
    write_idx_pair


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 40)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_with_labels_beside(tmp_path, sample, gz):
    images, labels = sample
    path = write_idx_pair(tmp_path, images, labels, gz=gz)
    read = read_idx(path)
    assert read.images.dtype == np.float32 and read.images.shape == (40, 28, 28)
    np.testing.assert_array_equal(read.images, images / np.float32(255))
    np.testing.assert_array_equal(read.labels, labels)
    assert read.note is None


def test_idx_pixels_match_the_servers_pixel_path(tmp_path, sample):
    """The vectorised uint8 / 255 is exactly what pixels_to_array gives for the same values."""
    images, _ = sample
    read = read_idx(write_idx_pair(tmp_path, images, None))
    for original, decoded in zip(images[:5], read.images[:5]):
        np.testing.assert_array_equal(decoded, pixels_to_array(original.tolist()))


def test_idx_labels_found_raw_beside_gz_images(tmp_path, sample):
    images, labels = sample
    path = write_idx_pair(tmp_path, images, None, gz=True)
    raw_pair = write_idx_pair(tmp_path / "raw", images, labels, gz=False)
    raw_pair.with_name("sample-labels-idx1-ubyte").replace(tmp_path / "sample-labels-idx1-ubyte")
    assert labels_path_for(path) == tmp_path / "sample-labels-idx1-ubyte"
    np.testing.assert_array_equal(read_idx(path).labels, labels)


def test_idx_without_labels_and_with_wrong_count(tmp_path, sample):
    images, labels = sample
    assert read_idx(write_idx_pair(tmp_path / "a", images, None)).labels is None
    path = write_idx_pair(tmp_path / "b", images, labels)
    write_idx_pair(tmp_path / "c", images[:3], labels[:3])  # a labels file of 3 for 40 images
    (tmp_path / "c" / "sample-labels-idx1-ubyte.gz").replace(tmp_path / "b" / "sample-labels-idx1-ubyte.gz")
    read = read_idx(path)
    assert read.labels is None and "3" in read.note


@pytest.mark.parametrize("data, message", [
    (b"not an idx file at all", "bad magic"),
    (b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100, "truncated"),
    (b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03", "labels file"),
    (b"\x00\x00\x08\x03" + (1).to_bytes(4, "big") + (5).to_bytes(4, "big") * 2 + b"\x00" * 25, "28x28"),
])
def test_idx_bad_files(tmp_path, data, message):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(ArrayReadError, match=message):
        read_idx(path)


def test_npy_uint8_and_float(tmp_path, sample):
    images, _ = sample
    np.save(tmp_path / "u8.npy", images)
    np.save(tmp_path / "f64.npy", images / 255.0)
    np.testing.assert_array_equal(read_npy(tmp_path / "u8.npy").images, images / np.float32(255))
    np.testing.assert_allclose(read_npy(tmp_path / "f64.npy").images, images / 255.0, atol=1e-7)
    assert read_npy(tmp_path / "u8.npy").labels is None


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 28, 27), np.uint8), "shape"),
    (np.full((2, 28, 28), 2.0), r"\[0, 1\]"),
    (np.full((2, 28, 28), np.nan, np.float32), r"\[0, 1\]"),
    (np.zeros((2, 28, 28), np.int32), "uint8 or float"),
])
def test_npy_refused(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ArrayReadError, match=message):
        read_npy(tmp_path / "bad.npy")


@pytest.mark.parametrize("labelled, header", [(True, True), (False, True), (True, False), (False, False)])
def test_csv_layouts(tmp_path, sample, labelled, header):
    images, labels = sample
    path = write_csv(tmp_path / "x.csv", images, labels if labelled else None, header=header)
    read = read_csv(path)
    np.testing.assert_array_equal(read.images, images / np.float32(255))
    if labelled:
        np.testing.assert_array_equal(read.labels, labels)
    else:
        assert read.labels is None
    assert read.errors is None


def test_csv_bad_line_is_an_error_for_that_row(tmp_path, sample):
    images, labels = sample
    path = write_csv(tmp_path / "x.csv", images[:3], labels[:3])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",0,", ",300,", 1)  # out of 0..255
    lines.insert(3, "1,2,3")  # too short
    path.write_text("\n".join(lines) + "\n")
    read = read_csv(path)
    assert len(read.images) == 4
    assert read.errors[0] is None and read.errors[3] is None
    assert "0..255" in read.errors[1] and "784" in read.errors[2]


@pytest.mark.parametrize("folder, expected", [
    ("T-shirt_top", 0), ("tshirt-top", 0), ("T-shirt", 0), ("ankle boot", 9), ("Ankle_Boot", 9),
    ("sneaker", 7), ("7", 7), ("photos", None), ("12", None),
])
def test_label_from_folder(folder, expected):
    assert label_from_folder(Path("data") / folder / "a.png", CLASSES) == expected


def test_no_folder_no_label():
    assert label_from_folder(Path("a.png"), CLASSES) is None
    assert [label_from_folder(Path(name) / "x.png", CLASSES) for name in FOLDER_NAMES] == list(range(10))


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
