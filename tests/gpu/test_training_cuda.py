"""`python -m training --device cuda` trains each model to the CPU's result, and its artifacts
are as portable as a CPU run's (they load and predict on a machine without a GPU)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests.gpu.agreement import TRAIN_PROB_ATOL, assert_agree
from tests.gpu.conftest import ARCHS

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def onnx_cpu_probabilities(model_dir, images: np.ndarray) -> np.ndarray:
    """model.onnx on onnxruntime's CPU provider for uint8 images [N, 28, 28]."""
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = (images.astype(np.float32) / 255)[:, None]
    return session.run(["probabilities"], {"image": batch})[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_training_matches_cpu_training(arch, cuda, trained, test_split):
    """Same seed, same data, same steps: the CUDA run's exported model predicts what the CPU run's
    does on the 300 real test images (onnxruntime on the CPU for both, so only training differs)."""
    _, images, _ = test_split
    on_cuda = onnx_cpu_probabilities(trained(arch, cuda), images)
    on_cpu = onnx_cpu_probabilities(trained(arch, "cpu"), images)
    assert_agree(on_cpu, on_cuda, TRAIN_PROB_ATOL, f"training {arch}: cuda vs cpu")


@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_checkpoint_loads_without_a_gpu(arch, cuda, trained):
    """model.pt from a CUDA run holds CPU tensors: a CPU-only server loads it without map_location."""
    import torch

    checkpoint = torch.load(trained(arch, cuda) / "model.pt", weights_only=True)
    devices = {tensor.device.type for tensor in checkpoint["state_dict"].values()}
    assert devices == {"cpu"}, f"model.pt of a CUDA run holds tensors on {devices}"
