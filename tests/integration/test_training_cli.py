"""`python -m training` end to end: the artifacts contract, skip/--force, and bad data."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from training.data import CLASSES
from training.outputs import ARTIFACTS
from training.data import FILES, load_dataset, write_synthetic
from training.models import build_model

ROOT = Path(__file__).resolve().parents[2]


def train_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", "--no-progress", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synthetic"), train=200, test=50)


def test_writes_exactly_the_contract_files(trained_model_dir):
    assert sorted(p.name for p in trained_model_dir.iterdir()) == sorted(ARTIFACTS)


def test_model_json_follows_the_contract(trained_model_dir):
    card = json.loads((trained_model_dir / "model.json").read_text())
    onnx_sha = hashlib.sha256((trained_model_dir / "model.onnx").read_bytes()).hexdigest()
    pt_sha = hashlib.sha256((trained_model_dir / "model.pt").read_bytes()).hexdigest()
    explain_sha = hashlib.sha256((trained_model_dir / "explain.onnx").read_bytes()).hexdigest()
    assert card["name"] == "fashion-mnist" and card["version"] == onnx_sha[:12]
    assert card["sha256"] == {"model.onnx": onnx_sha, "model.pt": pt_sha, "explain.onnx": explain_sha}
    assert card["explain"]["file"] == "explain.onnx"
    assert card["explain"]["check"]["gradient_max_abs_diff"] <= 1e-4
    assert card["classes"] == list(CLASSES) and card["impl"] == "module"
    assert card["arch"] == {"name": "linear", "layers": [["flatten"], ["linear", 784, 10]]}
    assert card["input"] == {"name": "image", "dtype": "float32", "shape": [None, 1, 28, 28],
                             "range": [0.0, 1.0]}
    assert card["output"] == {"name": "probabilities", "dtype": "float32", "shape": [None, 10]}
    assert card["preprocessing"] == {"size": [28, 28], "scale": 1 / 255,
                                     "polarity": "light-on-dark"}
    assert card["hyperparameters"]["batch_size"] == 32 and len(card["epochs"]) == 5
    assert card["test_accuracy"] == card["epochs"][-1]["test_acc"]
    assert {"torch", "onnxruntime", "numpy"} <= card["libraries"].keys()
    assert card["created_at"].endswith("+00:00")
    metrics = json.loads((trained_model_dir / "metrics.json").read_text())
    assert metrics["epochs"] == card["epochs"]
    assert set(metrics["epochs"][0]) == {"epoch", "train_loss", "train_acc", "test_acc", "seconds"}


def test_onnx_and_checkpoint_give_the_same_predictions(trained_model_dir, fmnist_dir):
    test = load_dataset(fmnist_dir, download=False).test
    images = test.images.unsqueeze(1).float().numpy() / 255
    probs = ort.InferenceSession(str(trained_model_dir / "model.onnx")).run(
        ["probabilities"], {"image": images})[0]
    ckpt = torch.load(trained_model_dir / "model.pt", weights_only=True)
    net = build_model(ckpt["arch"]["layers"])
    net.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        # the calibrated probabilities: logits divided by the checkpoint's temperature
        want = torch.softmax(net(torch.from_numpy(images)) / ckpt["temperature"], dim=1).numpy()
    assert np.abs(probs - want).max() <= 1e-5
    accuracy = (probs.argmax(axis=1) == test.labels.numpy()).mean()
    assert accuracy == pytest.approx(ckpt["metrics"]["test_accuracy"], abs=1e-6)
    assert accuracy > 0.6  # 5 epochs on 540 real images (60 held out): well above chance (0.1)


@pytest.mark.parametrize("name", ["curves.png", "confusion.png", "samples.png"])
def test_figures_are_real_pngs(trained_model_dir, name):
    with Image.open(trained_model_dir / name) as image:
        assert image.format == "PNG" and min(image.size) >= 300
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # not a blank canvas


def test_existing_model_is_kept_unless_forced(tmp_path, synthetic_dir):
    first = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--dry-run", "--epochs", 2)
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "model.json").read_text()
    skipped = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--seed", 5)
    assert skipped.returncode == 0 and "skipping" in skipped.stdout
    assert (tmp_path / "model.json").read_text() == before
    forced = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--dry-run", "--force",
                       "--seed", 5, "--impl", "scratch")
    assert forced.returncode == 0, forced.stderr
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["impl"] == "scratch" and card["hyperparameters"]["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ARTIFACTS)


def test_publish_writes_numbered_versions_atomically(tmp_path, synthetic_dir):
    repo = tmp_path / "repo"
    first = train_cli("--data-dir", synthetic_dir, "--publish", repo, "--dry-run")
    assert first.returncode == 0, first.stderr
    assert f"wrote {repo / '1'} " in first.stdout
    skipped = train_cli("--data-dir", synthetic_dir, "--publish", repo, "--dry-run")
    assert skipped.returncode == 0 and "skipping" in skipped.stdout and "--force" in skipped.stdout
    (repo / "7").mkdir()  # a version folder someone made by hand, even empty, is never reused
    forced = train_cli("--data-dir", synthetic_dir, "--publish", repo, "--dry-run", "--force", "--seed", 3)
    assert forced.returncode == 0, forced.stderr
    # Only version folders are left: the staging folder was renamed, not copied.
    assert sorted(p.name for p in repo.iterdir()) == ["1", "7", "8"]
    for number in ("1", "8"):
        assert sorted(p.name for p in (repo / number).iterdir()) == sorted(ARTIFACTS)
    assert json.loads((repo / "8" / "model.json").read_text())["hyperparameters"]["seed"] == 3
    assert oct((repo / "8").stat().st_mode & 0o777) == "0o755"


def test_out_and_publish_are_exclusive(tmp_path):
    done = train_cli("--out", tmp_path / "a", "--publish", tmp_path / "b")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_skipping_does_not_import_torch(tmp_path):
    """The compose `train` service runs the CLI at every `up`: with a model already there it must
    answer at once, not after a torch import (seconds)."""
    (tmp_path / "model.json").write_text("{}")
    code = ("import sys; from training.cli import main; code = main(['--out', sys.argv[1]]); "
            "print('torch' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "skipping training" in done.stdout
    assert done.stdout.strip().endswith("False")


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_dry_run_exports_every_architecture(tmp_path, synthetic_dir, model):
    done = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--model", model,
                     "--dry-run", "--epochs", 1, "--optimizer", "adam", "--lr", 0.001)
    assert done.returncode == 0, done.stderr
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["arch"]["name"] == model and card["hyperparameters"]["optimizer"] == "adam"
    assert card["export_check"]["max_abs_diff"] <= 1e-5


def _truncate_images(folder: Path) -> Path:
    path = folder / f"{FILES['test'][0]}.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:5000]))
    return path


def _replace_labels_with_text(folder: Path) -> Path:
    path = folder / f"{FILES['train'][1]}.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    return path


def _remove_labels(folder: Path) -> Path:
    path = folder / f"{FILES['train'][1]}.gz"
    path.unlink()
    return folder / FILES["train"][1]


@pytest.mark.parametrize("damage", [_truncate_images, _replace_labels_with_text, _remove_labels])
def test_bad_data_is_one_line_naming_the_file(tmp_path, damage):
    data = write_synthetic(tmp_path / "data", train=20, test=10)
    named = damage(data)
    done = train_cli("--data-dir", data, "--out", tmp_path / "out", "--dry-run")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(named) in lines[0]
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_failed_download_says_where_to_put_the_files(tmp_path):
    # A dead proxy makes the download fail at once, with or without a network.
    dead = "http://127.0.0.1:9"
    done = train_cli("--data-dir", tmp_path / "empty", "--out", tmp_path / "out",
                     env={"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead,
                          "http_proxy": dead})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "FASHION_MNIST_DIR" in done.stderr and str(tmp_path / "empty") in done.stderr
    assert "train-images-idx3-ubyte.gz" in done.stderr


def test_scratch_needs_linear_and_sgd(tmp_path, synthetic_dir):
    done = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--impl", "scratch",
                     "--model", "mlp")
    assert done.returncode == 2 and "--impl scratch" in done.stderr


@pytest.mark.parametrize("device", ["banana", "cuda:x", "gpu"])
def test_an_unknown_device_is_a_usage_error(tmp_path, synthetic_dir, device):
    done = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--device", device)
    assert done.returncode == 2 and "--device" in done.stderr and "Traceback" not in done.stderr


def test_cuda_without_a_gpu_is_one_line(tmp_path, synthetic_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the error path cannot be reached")
    done = train_cli("--data-dir", synthetic_dir, "--out", tmp_path, "--device", "cuda")
    assert done.returncode == 1 and "torch sees no CUDA device" in done.stderr
    assert "Traceback" not in done.stderr
