"""Decoding image files for the batch scorer: formats, unreadable files, order across workers."""
from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
from PIL import Image

from app.predictor import Predictor
from app.score.pool import Decoder, WorkerFailed, WorkerModel, decode_files, read_file
from app.score.sources import plan
from app.score.writers import CsvWriter
from app.score.run import LocalModel, Scored, finish
from tests.app.score.samples import CLASSES, real_sample, write_class_folders

LOSSLESS = ("png", "bmp", "gif", "tiff", "webp", "pgm")


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 30)


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


@pytest.mark.parametrize("workers", [1, 2])
def test_decoder_keeps_input_order(tmp_path, sample, workers):
    images, labels = sample
    write_class_folders(tmp_path, images, labels)
    (tmp_path / "bag" / "0000-broken.png").write_bytes(b"broken")
    sources = plan([str(tmp_path)], CLASSES)
    with Decoder(workers) as decoder:
        batches = list(decoder.decoded(b for s in sources for b in s.batches(7)))
    files = [p for b in batches for p in b.sources]
    assert files == sorted(files, key=lambda p: (p.rsplit("/", 2)[-2], p))  # walk order kept
    by_name = {p: (b.pixels[i], b.errors[i]) for b in batches for i, p in enumerate(b.sources)}
    broken = by_name.pop(str(tmp_path / "bag" / "0000-broken.png"))
    assert "not a readable image" in broken[1]
    for path, (pixels, error) in by_name.items():
        index = int(path.rsplit("/", 1)[-1][:4])
        assert error is None
        np.testing.assert_array_equal(pixels, images[index] / np.float32(255))


def test_workers_score_files_as_this_process_does(tmp_path, sample, trained_model_dir):
    """Workers with the model send back the same text and counts as predicting and formatting
    here (the one code path, run in another process), batch by batch in input order."""
    images, labels = sample
    write_class_folders(tmp_path, images, labels)
    (tmp_path / "bag" / "0000-broken.png").write_bytes(b"broken")
    model = LocalModel(Predictor.load(trained_model_dir, device="cpu"))
    sources = plan([str(tmp_path)], CLASSES)
    worker_model = WorkerModel(str(trained_model_dir), "onnx", "cpu", "out.csv")
    with Decoder(2, "auto", worker_model) as decoder:
        scored = list(decoder.decoded(b for s in sources for b in s.batches(7)))
    with Decoder(1) as decoder:
        here = [finish(b, model, model.infer(b), CsvWriter(CLASSES).format)
                for b in decoder.decoded(b for s in sources for b in s.batches(7))]
    assert all(isinstance(s, Scored) for s in scored) and len(scored) == len(here) == 5
    assert [s.text for s in scored] == [s.text for s in here]
    assert [s.text.count("\n") for s in scored] == [7, 7, 7, 7, 3]
    total, total_here = reduce(Scored.extend, scored), reduce(Scored.extend, here)
    assert total.errors == 1 and "0000-broken.png,,Bag," + "," * 13 + "not a readable image" in total.text
    assert (total.images, total.y_true, total.y_pred) == (31, total_here.y_true, total_here.y_pred)
    assert sorted(total.y_true) == sorted(labels.tolist())  # every labelled image but the broken one
    assert np.mean(np.array(total.y_true) == np.array(total.y_pred)) > 0.5  # a trained model's guesses


def test_a_worker_without_its_model_stops_the_run_with_one_message(tmp_path, sample):
    """A worker whose model does not load (the folder vanished mid-run) raises WorkerFailed with a
    message naming the file, which `app.score` prints as one line, not a traceback per worker."""
    images, labels = sample
    write_class_folders(tmp_path, images[:4], labels[:4])
    gone = WorkerModel(str(tmp_path / "no-model"), "onnx", "cpu", "out.csv")
    with Decoder(2, "auto", gone) as decoder, pytest.raises(WorkerFailed) as caught:
        list(decoder.decoded(b for s in plan([str(tmp_path)], CLASSES) for b in s.batches(2)))
    assert "could not load the model" in str(caught.value)
    assert "no-model" in str(caught.value)


@pytest.mark.parametrize("size", [0, 570, 65_536, 200_001])
def test_read_file_returns_every_byte(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(data)
    assert read_file(str(tmp_path / "f")) == data


def test_a_folder_or_missing_file_is_an_error_row(tmp_path):
    (tmp_path / "dir.png").mkdir()
    _, errors = decode_files([str(tmp_path / "dir.png"), str(tmp_path / "gone.png")], "auto")
    assert all(e.startswith("cannot read the file") for e in errors), errors
