"""A real gunicorn with DEVICE=cuda answers the 300 real test images as one with DEVICE=cpu does,
through the onnx backend (onnxruntime's CUDA provider, not a silent fallback) and the torch one."""
from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import requests
from PIL import Image

from tests.gpu.agreement import PROB_ATOL, assert_agree
from tests.gpu.conftest import ARCHS
from tests.conftest import png_bytes as png

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
PER_REQUEST = 100  # under the default MAX_BATCH (256)



def predict_all(url: str, images: np.ndarray) -> np.ndarray:
    """POST /predict with the images as PNG files (multipart, field `image` repeated); the
    probabilities [N, 10] in class order."""
    rows = []
    for start in range(0, len(images), PER_REQUEST):
        files = [("image", (f"{i}.png", png(image), "image/png"))
                 for i, image in enumerate(images[start:start + PER_REQUEST], start)]
        response = requests.post(f"{url}/predict", files=files, timeout=60)
        assert response.status_code == 200, response.text
        for prediction in response.json()["predictions"]:
            rows.append(list(prediction["probabilities"].values()))
    return np.array(rows)


@pytest.fixture(scope="module")
def cpu_answers(cuda, trained, test_split, gunicorn_server):
    """`cpu_answers(arch)`: the CUDA-trained model served with DEVICE=cpu (onnx), once per arch."""
    answers = {}

    def get(arch: str) -> np.ndarray:
        if arch not in answers:
            server = gunicorn_server(trained(arch, cuda), workers=1, env={"DEVICE": "cpu"})
            assert requests.get(f"{server.url}/readyz", timeout=5).json()["device"] == "cpu"
            answers[arch] = predict_all(server.url, test_split[1])
            server.stop()
        return answers[arch]

    return get


def serve_on(device: str, gunicorn_server, model_dir, backend: str):
    """Two workers, each loading the model on the GPU after the fork, as in production; /readyz
    and the model's metadata must report the GPU (a fallback to the CPU reports cpu)."""
    server = gunicorn_server(model_dir, workers=2, env={"DEVICE": device, "MODEL_BACKEND": backend})
    ready = requests.get(f"{server.url}/readyz", timeout=5).json()
    assert (ready["backend"], ready["device"]) == (backend, device), (ready, server.log())
    metadata = requests.get(f"{server.url}/v1/models/fashion-mnist", timeout=5).json()
    assert metadata["device"] == device, metadata
    assert "using cpu" not in server.log(), server.log()  # the backends' fallback line
    return server


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_backend_on_cuda(arch, cuda, onnx_cuda, trained, test_split, gunicorn_server,
                              cpu_answers):
    model_dir = trained(arch, cuda)
    # The provider list of a session like the server's: CUDA first, so the nodes run there. The
    # server reports cuda:0 in /readyz only when its own session's list starts with CUDA.
    session = ort.InferenceSession(str(model_dir / "model.onnx"),
                                   providers=list(dict.fromkeys([onnx_cuda, "CPUExecutionProvider"])))
    assert session.get_providers()[0] == onnx_cuda, session.get_providers()
    server = serve_on(cuda, gunicorn_server, model_dir, "onnx")
    answers = predict_all(server.url, test_split[1])
    server.stop()
    assert_agree(cpu_answers(arch), answers, PROB_ATOL, f"serve {arch}: onnx cuda vs cpu")


@pytest.mark.parametrize("arch", ARCHS)
def test_torch_backend_on_cuda(arch, cuda, trained, test_split, gunicorn_server, cpu_answers):
    server = serve_on(cuda, gunicorn_server, trained(arch, cuda), "torch")
    answers = predict_all(server.url, test_split[1])
    server.stop()
    assert_agree(cpu_answers(arch), answers, PROB_ATOL, f"serve {arch}: torch cuda vs onnx cpu")
