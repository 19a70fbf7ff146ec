"""The batch scorer's readers: image files decoded as the server decodes an upload, IDX (with the
labels file beside), .npy and CSV arrays, each checked against the real Fashion-MNIST pixels."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.decode import pixels_to_array
from scorer.readers import ArrayReadError, decode_files, labels_path_for, read_csv, read_file, read_idx, \
    read_npy
from tests.scorer.samples import real_sample, write_class_folders, write_csv, write_idx_pair

LOSSLESS = ("png", "bmp", "gif", "tiff", "webp", "pgm")


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 40)


def test_lossless_formats_decode_to_the_training_pixels(tmp_path, sample):
    images, labels = sample
    paths = write_class_folders(tmp_path, images[:6], labels[:6], formats=LOSSLESS)
    # webp is lossy by default in PIL; save it lossless so the pixels must match exactly
    Image.fromarray(images[4]).save(paths[4], lossless=True)
    pixels, errors = decode_files([str(p) for p in paths], "auto")
    assert errors == [None] * 6
    np.testing.assert_array_equal(pixels, images[:6] / np.float32(255))


def test_jpeg_and_inverted_large_rgb_images(tmp_path, sample):
    images, _ = sample
    Image.fromarray(images[0]).save(tmp_path / "a.jpg", quality=95)
    big = Image.fromarray(255 - images[1]).resize((280, 280), Image.Resampling.NEAREST).convert("RGB")
    big.save(tmp_path / "b.png")  # dark object on white, 10x the size: inverted and shrunk
    pixels, errors = decode_files([str(tmp_path / "a.jpg"), str(tmp_path / "b.png")], "auto")
    assert errors == [None, None]
    assert np.abs(pixels[0] - images[0] / 255.0).mean() < 0.02
    assert np.abs(pixels[1] - images[1] / 255.0).mean() < 0.05


def test_unreadable_files_get_messages(tmp_path, sample):
    (tmp_path / "text.png").write_text("this is not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(sample[0][0]).save(tmp_path / "good.png")
    paths = [str(tmp_path / name) for name in ("text.png", "good.png", "empty.png", "gone.png")]
    pixels, errors = decode_files(paths, "auto")
    assert "not a readable image" in errors[0] and errors[1] is None
    assert "empty" in errors[2] and "No such file" in errors[3]
    np.testing.assert_array_equal(pixels[1], sample[0][0] / np.float32(255))


@pytest.mark.parametrize("size", [0, 570, 65_536, 200_001])
def test_read_file_returns_every_byte(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(data)
    assert read_file(str(tmp_path / "f")) == data


def test_a_folder_or_missing_file_is_an_error_row(tmp_path):
    (tmp_path / "dir.png").mkdir()
    _, errors = decode_files([str(tmp_path / "dir.png"), str(tmp_path / "gone.png")], "auto")
    assert all(e.startswith("cannot read the file") for e in errors), errors


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
