"""Predictor on the trained artifacts: onnx and torch backends agree, and a bad model folder fails
with a ModelLoadError that names the file."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from inference.errors import ModelLoadError
from inference.predictor import Predictor
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def batch(fmnist_dir) -> np.ndarray:
    from training.data import load_idx
    images = load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)
    return (images[:, None] / np.float32(255)).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 2])
def test_onnx_and_torch_backends_agree(trained_model_dir, batch, threads):
    onnx = Predictor.load(trained_model_dir, backend="onnx", device="cpu", threads=threads)
    torch = Predictor.load(trained_model_dir, backend="torch", device="auto", threads=threads)
    assert (onnx.backend, onnx.device, torch.backend, torch.device) == ("onnx", "cpu", "torch", "cpu")
    a, b = onnx.predict(batch), torch.predict(batch)
    assert a.shape == b.shape == (len(batch), 10)
    assert np.abs(a - b).max() <= 1e-5
    assert np.allclose(a.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # trains a CNN in a subprocess: about 30 s on the shared machine
def test_torch_backend_rebuilds_a_cnn_from_arch_layers(tmp_path, fmnist_dir, batch):
    """The conv2d / maxpool2d / flatten / linear kinds, from training's real export of a CNN."""
    out = tmp_path / "cnn"
    subprocess.run([sys.executable, "-m", "training", "--data-dir", str(fmnist_dir), "--out", str(out),
                    "--model", "cnn", "--dry-run", "--epochs", "1", "--device", "cpu"],
                   check=True, cwd=ROOT, capture_output=True)
    onnx, torch = Predictor.load(out, backend="onnx"), Predictor.load(out, backend="torch")
    assert np.abs(onnx.predict(batch[:64]) - torch.predict(batch[:64])).max() <= 1e-5


def test_metadata_and_to_prediction(trained_model_dir):
    predictor = Predictor.load(trained_model_dir)
    model_json = json.loads((trained_model_dir / "model.json").read_text())
    assert predictor.metadata == model_json and predictor.version == model_json["version"]
    assert predictor.classes[9] == "Ankle boot"
    row = np.array([0.01] * 9 + [0.91], dtype=np.float32)
    prediction = predictor.to_predictions(row[None])[0]
    assert prediction["label"] == "Ankle boot" and prediction["class_index"] == 9
    assert prediction["confidence"] == pytest.approx(0.91)
    assert list(prediction["probabilities"]) == predictor.classes


def test_to_predictions_of_a_batch(trained_model_dir):
    predictor = Predictor.load(trained_model_dir)
    probs = predictor.predict(np.random.default_rng(0).random((50, 1, 28, 28), dtype=np.float32))
    predictions = predictor.to_predictions(probs)
    assert len(predictions) == 50 and predictions[7] == predictor.to_predictions(probs[7][None])[0]
    for row, prediction in zip(probs, predictions):
        index = int(np.argmax(row))
        assert prediction["class_index"] == index and prediction["label"] == predictor.classes[index]
        assert prediction["confidence"] == float(row[index])  # the float32 value exactly, as a float
        assert list(prediction["probabilities"].values()) == [float(p) for p in row]
        assert all(type(p) is float for p in prediction["probabilities"].values())


@pytest.fixture()
def model_copy(trained_model_dir, tmp_path):
    return shutil.copytree(trained_model_dir, tmp_path / "model")


def _rewrite_json(folder, **changes) -> None:
    path = folder / "model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _sha256_of(folder, name) -> dict:
    import hashlib
    sha = json.loads((folder / "model.json").read_text())["sha256"]
    return {**sha, name: hashlib.sha256((folder / name).read_bytes()).hexdigest()}


BREAKAGES = {
    "no model.json": (lambda d: (d / "model.json").unlink(), "onnx", "model.json"),
    "model.json not json": (lambda d: (d / "model.json").write_text("{oops"), "onnx", "model.json"),
    "model.json without classes": (lambda d: _rewrite_json(d, classes=None), "onnx", "model.json"),
    "no model.onnx": (lambda d: (d / "model.onnx").unlink(), "onnx", "model.onnx"),
    "truncated model.onnx": (lambda d: (d / "model.onnx").write_bytes(b"\x08\x07"), "onnx", "model.onnx"),
    # Garbage that model.json vouches for: only onnxruntime itself can tell.
    "corrupt model.onnx, matching sha": (
        lambda d: ((d / "model.onnx").write_bytes(b"garbage" * 10),
                   _rewrite_json(d, sha256=_sha256_of(d, "model.onnx"))), "onnx", "model.onnx"),
    "no model.pt": (lambda d: (d / "model.pt").unlink(), "torch", "model.pt"),
    "corrupt model.pt, matching sha": (
        lambda d: ((d / "model.pt").write_bytes(b"garbage"),
                   _rewrite_json(d, sha256=_sha256_of(d, "model.pt"))), "torch", "model.pt"),
}


@pytest.mark.parametrize("breakage,backend,named", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_bad_model_folder_names_the_file(model_copy, breakage, backend, named):
    breakage(model_copy)
    with pytest.raises(ModelLoadError, match=named):
        Predictor.load(model_copy, backend=backend)


def test_a_missing_folder_names_model_json(tmp_path):
    with pytest.raises(ModelLoadError, match=r"not found: .*nowhere/model.json"):
        Predictor.load(tmp_path / "nowhere")


def test_an_unknown_layer_kind_names_model_pt(model_copy):
    import torch
    checkpoint = torch.load(model_copy / "model.pt", weights_only=True)
    checkpoint["arch"]["layers"].append(["softmax2000"])
    torch.save(checkpoint, model_copy / "model.pt")
    _rewrite_json(model_copy, sha256=_sha256_of(model_copy, "model.pt"))
    with pytest.raises(ModelLoadError, match=r"model.pt.*softmax2000"):
        Predictor.load(model_copy, backend="torch")


@pytest.mark.parametrize("backend", ["onnx", "torch"])
@pytest.mark.parametrize("device", ["auto", "cuda", "cuda:1"])
def test_without_cuda_every_device_setting_serves_on_cpu(trained_model_dir, backend, device, caplog):
    import onnxruntime
    import torch
    if torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("a CUDA device is present: this test is about the CPU fallback")
    with caplog.at_level("INFO"):
        predictor = Predictor.load(trained_model_dir, backend=backend, device=device)
    assert predictor.device == "cpu"
    assert any("using cpu" in record.getMessage() for record in caplog.records)


def test_the_flag_compares_the_float32_score_with_the_threshold_in_float64(trained_model_dir):
    """The one rule for out_of_distribution: score > threshold with the float32 score taken exactly
    as a float64 (numpy would compare a numpy float32 with a Python float in float32, where this
    threshold rounds to the score itself), and the prediction objects hold plain Python values."""
    predictor = Predictor.load(trained_model_dir)
    score = np.nextafter(np.float32(1), np.float32(2))  # 1.00000011920928955...
    predictor.ood_threshold = 1.0000001
    assert not bool(score > predictor.ood_threshold)  # numpy's own comparison: float32
    (prediction,) = predictor.to_predictions(np.full((1, 10), 0.1, np.float32), np.array([score]))
    assert prediction["out_of_distribution"] is True and type(prediction["ood_score"]) is float
    assert predictor.out_of_distribution([float(score), 1.0]) == [True, False]
