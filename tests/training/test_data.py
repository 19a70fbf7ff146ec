"""IDX load/save and the data checks: real files written and read back, broken files named."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from inference.idx import write_idx
from training.data import FILES, load_dataset, load_idx, load_split, write_synthetic
from training.errors import DataError


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_write_then_load_gives_the_same_array(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / name, array)
    assert np.array_equal(load_idx(path, ndim=3), array)


def test_header_is_the_standard_one(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([3, 1, 4], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_reads_the_real_sample(fmnist_dir):
    data = load_dataset(fmnist_dir, download=False)
    assert (len(data.train), len(data.test)) == (600, 300)
    assert data.train.images.shape[1:] == (28, 28)
    assert data.train.images.dtype.is_floating_point is False
    # 60 per class in train, 30 per class in test (the sample's README)
    assert data.train.labels.bincount().tolist() == [60] * 10
    assert data.test.labels.bincount().tolist() == [30] * 10


def test_finds_torchvision_layout_and_raw_files(tmp_path):
    write_synthetic(tmp_path / "FashionMNIST" / "raw", train=20, test=10, gz=False)
    data = load_dataset(tmp_path, download=False)
    assert (len(data.train), len(data.test)) == (20, 10)


def _broken(tmp_path, damage):
    write_synthetic(tmp_path, train=20, test=10)
    target = tmp_path / f"{FILES['train'][0]}.gz"
    damage(target)
    return target


def _truncate(path):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))


def _foreign(path):
    path.write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(200)))


def _labels_as_images(path):
    path.write_bytes((path.parent / f"{FILES['train'][1]}.gz").read_bytes())


def _not_gzip(path):
    path.write_bytes(b"this is not gzip data at all")


@pytest.mark.parametrize("damage, expected", [
    (_truncate, "truncated"),
    (_foreign, "is not an IDX file of unsigned bytes with 3 dimension"),
    (_labels_as_images, "is not an IDX file of unsigned bytes with 3 dimension"),
    (_not_gzip, "cannot read"),
])
def test_a_broken_file_is_named_with_what_was_expected(tmp_path, damage, expected):
    target = _broken(tmp_path, damage)
    with pytest.raises(DataError) as caught:
        load_split(tmp_path, "train")
    assert str(target) in str(caught.value)
    assert expected in str(caught.value)


def test_image_and_label_counts_must_match(tmp_path):
    write_synthetic(tmp_path, train=20, test=10)
    write_idx(tmp_path / f"{FILES['train'][1]}.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match="20 images but .* 19 labels"):
        load_split(tmp_path, "train")


def test_a_missing_file_is_named(tmp_path):
    write_synthetic(tmp_path, train=20, test=10)
    (tmp_path / f"{FILES['test'][1]}.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: missing"):
        load_dataset(tmp_path)
