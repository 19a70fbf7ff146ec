"""NVIDIA's own client (`tritonclient.http`) against a real gunicorn: health, metadata, and inference on
the 300 real test images as FP32, UINT8 and BYTES (PNG) tensors, with and without binary data. The
probabilities equal /predict's and an offline onnxruntime run's to 1e-6."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException
from tests.conftest import png_bytes as png

MODEL = "fashion-mnist"
CHUNK = 100  # images per request: under the default MAX_BATCH (256)


@pytest.fixture(scope="module")
def client(server):
    client = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def offline(trained_model_dir, test_images) -> np.ndarray:
    session = ort.InferenceSession(str(trained_model_dir / "model.onnx"))
    return session.run(["probabilities"], {"image": test_images[:, None] / np.float32(255)})[0]



@pytest.fixture(scope="module")
def pngs(test_images) -> list[bytes]:
    return [png(image) for image in test_images]


@pytest.fixture(scope="module")
def served_by_predict(server, pngs) -> np.ndarray:
    rows = []
    for start in range(0, len(pngs), CHUNK):
        images = [base64.b64encode(b).decode() for b in pngs[start:start + CHUNK]]
        response = requests.post(f"{server.url}/predict", json={"images": images}, timeout=60)
        assert response.status_code == 200, response.text
        rows += [list(p["probabilities"].values()) for p in response.json()["predictions"]]
    return np.array(rows, dtype=np.float32)


def test_health_and_metadata(client, trained_model_dir):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready("mnist") and not client.is_model_ready(MODEL, "2")
    server = client.get_server_metadata()
    assert server["name"] == "fashion-mnist-serving" and "binary_tensor_data" in server["extensions"]
    model = client.get_model_metadata(MODEL)
    assert model["versions"] == ["1"] and model["platform"] == "onnx_onnxv1"
    assert model["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert [o["name"] for o in model["outputs"]] == ["probabilities", "class_index", "label", "ood_score",
                                                     "out_of_distribution"]
    with pytest.raises(InferenceServerException, match="unknown model 'mnist'"):
        client.get_model_metadata("mnist")


def _tensor(datatype: str, batch: np.ndarray, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("image", list(batch.shape), datatype)
    tensor.set_data_from_numpy(batch, binary_data=binary)
    return tensor


def _inputs(form: str, images: np.ndarray, pngs: list[bytes], binary: bool) -> triton.InferInput:
    if form == "FP32":
        return _tensor("FP32", (images[:, None] / np.float32(255)).astype(np.float32), binary)
    if form == "UINT8":
        return _tensor("UINT8", images, binary)
    # BYTES: the PNG files; JSON strings cannot hold raw bytes, so in JSON they go as base64 text.
    files = pngs if binary else [base64.b64encode(b) for b in pngs]
    return _tensor("BYTES", np.array(files, dtype=object), binary)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("form", ["FP32", "UINT8", "BYTES"])
def test_every_real_test_image_matches_predict_and_offline_onnx(client, form, binary, test_images, pngs,
                                                                  offline, served_by_predict):
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("probabilities", "label")]
    probabilities, labels = [], []
    for start in range(0, len(test_images), CHUNK):
        chunk = slice(start, start + CHUNK)
        result = client.infer(MODEL, [_inputs(form, test_images[chunk], pngs[chunk], binary)], outputs=outputs,
                              request_id=f"chunk-{start}")
        assert result.get_response()["id"] == f"chunk-{start}"
        probabilities.append(result.as_numpy("probabilities"))
        labels += [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    got = np.concatenate(probabilities)
    assert got.shape == (300, 10)
    assert np.abs(got - offline).max() <= 1e-6
    assert np.abs(got - served_by_predict).max() <= 1e-6
    assert len(labels) == 300


def test_labels_are_the_class_names_of_the_argmax(client, test_images, offline, trained_model_dir):
    names = json.loads((trained_model_dir / "model.json").read_text())["classes"]
    result = client.infer(MODEL, [_tensor("UINT8", test_images[:CHUNK], True)])  # all outputs, binary by default
    assert result.as_numpy("class_index").tolist() == offline[:CHUNK].argmax(axis=1).tolist()
    assert [x.decode() for x in result.as_numpy("label")] == [names[i] for i in offline[:CHUNK].argmax(axis=1)]


def test_bad_shape_raises_with_our_message_and_the_server_keeps_serving(client, server, test_images):
    bad = _tensor("FP32", np.zeros((1, 27, 28), dtype=np.float32), True)
    with pytest.raises(InferenceServerException) as raised:
        client.infer(MODEL, [bad])
    assert raised.value.status() == "400"
    assert raised.value.message() == ("input 'image': FP32 shape must be [N,1,28,28], [N,28,28] or [N,784], "
                                      "not [1, 27, 28]")
    assert client.infer(MODEL, [_tensor("UINT8", test_images[:1], True)]).as_numpy("label").shape == (1,)
    assert '"POST /v2/models/fashion-mnist/infer" 400' in server.log()  # the access log covers v2
