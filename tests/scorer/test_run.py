"""The scoring loop: a batch's rows (prediction or error, true label, model version) and counts, and
the loop writing them in input order and stopping after a whole batch."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from inference.predictor import Predictor
from scorer.run import LocalModel, finish, score
from scorer.sources import Batch, plan
from scorer.csv_writer import CsvWriter
from scorer.jsonl_writer import JsonlWriter
from tests.scorer.samples import CLASSES, real_sample


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 20)


@pytest.fixture(scope="module")
def model(trained_model_dir):
    return LocalModel(Predictor.load(trained_model_dir, device="cpu"))


def test_rows_of_a_batch_with_error_rows_among_its_images(sample, model):
    images, labels = sample
    pixels = images[:6] / np.float32(255)
    errors = [None, "line 2: bad pixels", None, None, "line 5: bad pixels", None]
    batch = Batch(["x.csv"] * 6, list(range(6)), [int(v) for v in labels[:6]], pixels=pixels, errors=errors)
    scored = finish(batch, model, model.infer(batch), JsonlWriter(CLASSES).format)
    rows = [json.loads(line) for line in scored.text.splitlines()]
    alone = model.predictor.to_predictions(model.predictor.predict(pixels[[0, 2, 3, 5], None]))
    assert [row.get("error") for row in rows] == errors
    for row, expected in zip([rows[i] for i in (0, 2, 3, 5)], alone):
        assert row["label"] == expected["label"]
        assert row["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
    assert all(row["model_version"] == model.version for row in rows)  # error rows too: which run wrote them
    assert all(row["true_label"] == CLASSES[labels[row["index"]]] for row in rows)
    assert (scored.images, scored.errors) == (6, 2)
    assert scored.y_true == [int(labels[i]) for i in (0, 2, 3, 5)]
    assert scored.y_pred == [p["class_index"] for p in alone]


def test_a_batch_without_any_pixels_is_error_rows_only(model):
    batch = Batch(["gone.png"], [None], [None], errors=["no such file or directory"])
    scored = finish(batch, model, model.infer(batch), JsonlWriter(CLASSES).format)
    assert json.loads(scored.text) == {"source": "gone.png", "error": "no such file or directory",
                                       "model_version": model.version}


def test_loop_writes_every_batch_in_order(tmp_path, sample, model):
    images, labels = sample
    np.save(tmp_path / "a.npy", images)
    sources = plan([str(tmp_path / "a.npy"), str(tmp_path / "missing.png")], CLASSES)
    stream, seen = io.StringIO(), []
    tally = score((b for s in sources for b in s.batches(3)), model, CsvWriter(CLASSES, stream), seen.append)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 + 21 and seen == [3] * 6 + [2, 1]
    assert [line.split(",")[1] for line in lines[1:-1]] == [str(i) for i in range(20)]
    assert lines[-1].startswith(str(tmp_path / "missing.png")) and "no such file" in lines[-1]
    assert (tally.images, tally.errors, tally.interrupted) == (21, 1, False)


def test_stop_ends_the_run_after_a_whole_batch(tmp_path, sample, model):
    images, _ = sample
    np.save(tmp_path / "a.npy", images)
    stream, written = io.StringIO(), []
    tally = score((b for s in plan([str(tmp_path / "a.npy")], CLASSES) for b in s.batches(4)), model,
                  CsvWriter(CLASSES, stream), written.append, stop=lambda: len(written) >= 1)
    assert tally.interrupted and tally.images == sum(written) and tally.images in (4, 8)
    assert stream.getvalue().count("\n") == 1 + tally.images and stream.getvalue().endswith("\n")
