"""`--explain FILE`: the attributions of every scored image as one .npy beside the output rows,
equal to the service's explanations; refused with one line where it cannot work."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from inference.decode import decode_image
from inference.predictor import Predictor
from scorer.cli import main
from tests.conftest import without_explain
from tests.scorer.samples import real_sample


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 12)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_attributions_follow_the_rows_with_nan_for_error_rows(trained_model_dir, tmp_path, sample, workers):
    images, _ = sample
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    (folder / "05b.png").write_bytes(b"not an image")  # an error row between two images
    out, explained = tmp_path / "out.jsonl", tmp_path / "attributions.npy"
    assert main([str(folder), "--out", str(out), "--model-dir", str(trained_model_dir), "--explain",
                 str(explained), "--workers", workers, "--batch-size", "5"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    attributions = np.load(explained)
    assert attributions.shape == (len(rows), 28, 28) and attributions.dtype == np.float32
    predictor = Predictor.load(trained_model_dir)
    for row, values in zip(rows, attributions):
        if "error" in row:
            assert np.isnan(values).all()
            continue
        pixels = decode_image((folder / row["source"].split("/")[-1]).read_bytes())[None, None]
        (expected,) = predictor.explain(pixels, [row["class_index"]])
        np.testing.assert_allclose(values, expected.attributions, rtol=1e-5, atol=1e-7)
    assert sum("error" in row for row in rows) == 1


def test_explain_refuses_old_artifacts_with_one_line(trained_model_dir, tmp_path, sample, capsys):
    old = without_explain(trained_model_dir, tmp_path / "old")
    np.save(tmp_path / "a.npy", sample[0])
    code = main([str(tmp_path / "a.npy"), "--out", str(tmp_path / "o.csv"), "--model-dir", str(old),
                 "--explain", str(tmp_path / "e.npy")])
    assert code == 2 and "retrain to explain" in capsys.readouterr().err
    assert not (tmp_path / "e.npy").exists()


@pytest.mark.parametrize("extra, message", [
    (["--explain", "attributions.csv"], "does not end in .npy"),
    (["--explain", "e.npy", "--url", "http://127.0.0.1:9"], "local model"),
])
def test_explain_refuses_what_it_cannot_write(trained_model_dir, tmp_path, sample, capsys, extra, message):
    np.save(tmp_path / "a.npy", sample[0])
    code = main([str(tmp_path / "a.npy"), "--out", str(tmp_path / "o.csv"), "--model-dir",
                 str(trained_model_dir), *extra])
    assert code == 2 and message in capsys.readouterr().err
