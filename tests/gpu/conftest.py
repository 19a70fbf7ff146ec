"""The GPU suite's fixtures: what is missing for CUDA (the skip reason), the real sample's test
split, and models trained through the real CLI on CUDA and on the CPU.

Everything here goes through the command lines and HTTP (`python -m training`, gunicorn,
`python -m scorer`), never through the packages' internals: the artifacts folder is the contract.
Without CUDA every test skips, and the reason names what is missing. On a GPU machine
tests/gpu/device_run.sh sets `REQUIRE_GPU=1` (torch must see CUDA) and, when it installed
onnxruntime-gpu, `REQUIRE_ONNX_CUDA=1` (its CUDA provider must be there): those skips become
failures, so a machine that should have run the tests cannot pass by skipping them.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import gunicorn_server  # noqa: F401  (the shared server factory)

ARCHS = ("linear", "mlp", "cnn")
# Short on purpose: CPU and CUDA runs drift apart a little with every SGD step (see
# TRAIN_PROB_ATOL); 2 epochs of batch 64 are 20 steps on the 600 training images.
TRAIN_ARGS = ["--epochs", "2", "--batch-size", "64", "--seed", "0", "--no-progress", "--force"]


def _missing_cuda() -> str | None:
    """Why torch cannot train on CUDA here, or None when it can."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install torch, a CUDA build)"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None)"
    if not torch.cuda.is_available():
        return (f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device "
                "(no NVIDIA GPU or driver on this machine)")
    return None


def _missing_onnx_cuda() -> str | None:
    """Why onnxruntime cannot run on CUDA here, or None when it can."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (providers: "
                f"{', '.join(ort.get_available_providers())}): the CPU package is installed, "
                "install onnxruntime-gpu in its place (docs/gpu.md)")
    return None


def _skip_or_fail(reason: str, required_by: str) -> None:
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{required_by}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cuda() -> str:
    """The CUDA device the tests use (cuda:0); skips (or fails under REQUIRE_GPU=1) without one.

    GPU_TESTS_DEVICE=cpu is a rehearsal of the suite's own code on a machine without a GPU: every
    "GPU" run then happens on the CPU, so it proves the harness, not the GPU path."""
    device = os.environ.get("GPU_TESTS_DEVICE", "cuda:0")
    reason = _missing_cuda() if device.startswith("cuda") else None
    if reason:
        _skip_or_fail(f"CUDA not available: {reason}", "REQUIRE_GPU")
    return device


@pytest.fixture(scope="session")
def onnx_cuda(cuda) -> str:
    """The provider onnxruntime must use for `cuda` (CUDAExecutionProvider); skips (fails under
    REQUIRE_ONNX_CUDA=1) when it is not installed."""
    if not cuda.startswith("cuda"):
        return "CPUExecutionProvider"  # the rehearsal
    reason = _missing_onnx_cuda()
    if reason:
        _skip_or_fail(f"onnxruntime on CUDA not available: {reason}", "REQUIRE_ONNX_CUDA")
    return "CUDAExecutionProvider"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or .gz) as an array: a few lines of our own, so the suite does not lean on
    training's loader, which it is checking."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.fixture(scope="session")
def test_split(fmnist_dir) -> tuple[Path, np.ndarray, np.ndarray]:
    """The real sample's test split: its IDX images file, the images uint8 [300, 28, 28], labels."""
    images_file = fmnist_dir / "t10k-images-idx3-ubyte.gz"
    return images_file, read_idx(images_file), read_idx(fmnist_dir / "t10k-labels-idx1-ubyte.gz")


def train(data_dir: Path, out: Path, arch: str, device: str) -> subprocess.CompletedProcess:
    """`python -m training --device DEVICE` into `out`; the run's output is in the failure message."""
    result = subprocess.run(
        [sys.executable, "-m", "training", "--data-dir", str(data_dir), "--out", str(out),
         "--model", arch, "--device", device, *TRAIN_ARGS],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"training {arch} on {device} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def trained(cuda, fmnist_dir, tmp_path_factory):
    """`trained(arch, device)` -> artifacts folder, each trained once per session."""
    folders: dict[tuple[str, str], Path] = {}

    def get(arch: str, device: str) -> Path:
        if (arch, device) not in folders:
            out = tmp_path_factory.mktemp(f"{arch}-{device.replace(':', '')}")
            result = train(fmnist_dir, out, arch, device)
            # The CLI refuses --device cuda without CUDA; this also shows it said where it trained.
            assert device.split(":")[0] in result.stdout, result.stdout
            folders[arch, device] = out
        return folders[arch, device]

    return get


def pytest_terminal_summary(terminalreporter):
    """The measured agreement of each check, for benchmarks/README.md; also to $GPU_FIGURES (JSON)."""
    import json

    from tests.gpu.agreement import FIGURES

    if not FIGURES:
        return
    terminalreporter.section("GPU vs CPU agreement")
    for f in FIGURES:
        terminalreporter.write_line(
            f"{f['check']:<40} {f['images']} images  max |p_gpu - p_cpu| {f['max_abs_diff']:.2e} "
            f"(atol {f['atol']:.0e})  argmax differs on {f['argmax_differs']} "
            f"({f['near_ties']} near-ties)")
    if os.environ.get("GPU_FIGURES"):
        Path(os.environ["GPU_FIGURES"]).write_text(json.dumps(FIGURES, indent=1))
