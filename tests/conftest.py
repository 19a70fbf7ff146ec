"""Fixtures shared by every test folder: the real sample, a model trained on it, free ports."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "fashion-mnist-mini"


def sample_dir() -> Path | None:
    """The real 900-image sample: $FASHION_MNIST_DIR, else ../shared beside the checkout."""
    env = os.environ.get("FASHION_MNIST_DIR")
    for candidate in (Path(env) if env else None, SAMPLE):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    found = sample_dir()
    if found is None:
        pytest.skip("real Fashion-MNIST sample not found: set FASHION_MNIST_DIR "
                    "(CI points it at ../shared/data/fashion-mnist-mini)")
    return found


@pytest.fixture(scope="module")
def test_images(fmnist_dir):
    """The sample's 300 real test images, uint8 [300, 28, 28] (a module's own copy)."""
    from inference.idx import read_idx

    images = read_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3).copy()
    assert images.shape == (300, 28, 28)
    return images


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """Artifacts of the default linear model trained on the real sample, once per session.

    Without the real sample (a fresh clone elsewhere) it trains on synthetic images in the same
    IDX format, so tests of the app still get a real, complete artifacts folder.
    """
    data = sample_dir()
    if data is None:
        from training.data import write_synthetic

        data = write_synthetic(tmp_path_factory.mktemp("synthetic-fmnist"))
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run(
        [sys.executable, "-m", "training", "--data-dir", str(data), "--out", str(out),
         "--epochs", "5", "--batch-size", "32", "--seed", "0", "--device", "cpu", "--no-progress"],
        check=True, cwd=ROOT,
    )
    return out


@pytest.fixture(scope="session")
def trained_arch_dir(tmp_path_factory, fmnist_dir):
    """`trained_arch_dir("mlp")`: artifacts of a small model of that architecture (one epoch on the
    real sample), trained once per session on first use."""
    trained: dict[str, Path] = {}

    def train(arch: str) -> Path:
        if arch not in trained:
            out = tmp_path_factory.mktemp(f"artifacts-{arch}")
            subprocess.run(
                [sys.executable, "-m", "training", "--model", arch, "--data-dir", str(fmnist_dir),
                 "--out", str(out), "--epochs", "1", "--batch-size", "32", "--seed", "0",
                 "--device", "cpu", "--threads", "1", "--no-progress"],
                check=True, cwd=ROOT, capture_output=True)
            trained[arch] = out
        return trained[arch]

    return train


def without_explain(model_dir: Path, into: Path) -> Path:
    """A copy of a model folder as training wrote it before explain.onnx existed."""
    import json
    import shutil

    shutil.copytree(model_dir, into)
    (into / "explain.onnx").unlink()
    card = json.loads((into / "model.json").read_text())
    del card["explain"]
    del card["sha256"]["explain.onnx"]
    (into / "model.json").write_text(json.dumps(card))
    return into


def serving_app(load: bool = True, required: bool = True, **env):
    """The HTTP app as app/wsgi.py builds it, on settings given by their environment names
    (serving_app(MODEL_DIR=path, MAX_BATCH=4)); `load=False` leaves the model unloaded (503s),
    `required=False` keeps the app up, not ready, when no valid version exists."""
    from app.context import build_state
    from app.factory import create_app
    from inference.settings import Settings

    state = build_state(Settings.from_env({**os.environ, **{key: str(value) for key, value in env.items()}}))
    if load:
        state.start(required=required)
    return create_app(state)


def png_bytes(pixels) -> bytes:
    """A PNG file of the pixels (grayscale, RGB or RGBA by their shape and dtype, as Pillow takes them)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_collection_modifyitems(config, items):
    """Whole-system tests (real gunicorn, CLI subprocesses, containers) are slow by where they live:
    `make test-fast` (-m "not slow") leaves them out; tests elsewhere mark themselves."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if len(parts) > 1 and parts[1] in ("integration", "container"):
            item.add_marker(pytest.mark.slow)
