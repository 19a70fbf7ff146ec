"""The Open Inference Protocol routes through the Flask test client: metadata, health, inference in
every input form, the protocol's error form, limits, and the same access hooks and metrics as /predict."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from tests.conftest import serving_app
from tests.prometheus_text import samples, value
from tests.conftest import png_bytes as png

INFER = "/v2/models/fashion-mnist/infer"


@pytest.fixture(scope="module")
def app(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir, MAX_BATCH=4, MAX_UPLOAD_MB=0.05)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Three distinct 28x28 uint8 images, light objects on dark."""
    rng = np.random.default_rng(1)
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[:, 6:22, 8:20] = rng.integers(120, 256, size=(3, 16, 12))
    return images



def image_input(datatype: str, data, shape: list[int]) -> dict:
    return {"inputs": [{"name": "image", "datatype": datatype, "shape": shape, "data": data}]}


def probabilities(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    (output,) = [o for o in response.get_json()["outputs"] if o["name"] == "probabilities"]
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def test_server_metadata_health_and_model_ready(client):
    assert client.get("/v2").get_json() == {"name": "fashion-mnist-serving", "version": "0.1.0",
                                            "extensions": ["binary_tensor_data"]}
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    for path in ("/v2/models/fashion-mnist/ready", "/v2/models/fashion-mnist/versions/1/ready"):
        assert client.get(path).get_json() == {"name": "fashion-mnist", "ready": True}


def test_server_metadata_without_the_installed_project_is_not_a_500(client, monkeypatch):
    # The runtime image copies app/ without installing the project; the test venv has it installed,
    # so its absence is simulated here.
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr("app.routes.v2.metadata.version", not_installed)
    response = client.get("/v2")
    assert response.status_code == 200 and response.get_json()["version"] == "unknown"


def test_model_metadata_names_tensors_versions_and_the_sha_identity(client, trained_model_dir):
    sha_version = json.loads((trained_model_dir / "model.json").read_text())["version"]
    response = client.get("/v2/models/fashion-mnist")
    assert response.get_json() == {
        "name": "fashion-mnist", "versions": ["1"], "platform": "onnx_onnxv1",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                    {"name": "class_index", "datatype": "INT64", "shape": [-1]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "ood_score", "datatype": "FP32", "shape": [-1]},
                    {"name": "out_of_distribution", "datatype": "BOOL", "shape": [-1]}],
        "parameters": {"sha_version": sha_version, "backend": "onnx", "device": "cpu"}}
    assert response.headers["X-Model-Version"] == sha_version
    assert client.get("/v2/models/fashion-mnist/versions/1").get_json() == response.get_json()


@pytest.mark.parametrize("path", ["/v2/models/mnist", "/v2/models/mnist/ready", "/v2/models/fashion-mnist/versions/2",
                                  "/v2/models/fashion-mnist/versions/2/ready", "/v2/no/such/route"])
def test_unknown_model_version_or_path_is_a_404_in_the_protocols_form(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert isinstance(response.get_json()["error"], str)


def test_unknown_version_on_infer_names_the_served_ones(client, images):
    response = client.post("/v2/models/fashion-mnist/versions/7/infer",
                           json=image_input("UINT8", images[0].tolist(), [1, 28, 28]))
    assert response.status_code == 404
    assert response.get_json() == {"error": "model version '7' is not served; serving version 1 "
                                            "(MODEL_VERSION pins another)"}


def test_wrong_method_is_405_in_the_protocols_form_and_ours_stay_ours(client):
    assert client.delete("/v2/health/live").get_json() == {"error": "The method is not allowed for the requested URL."}
    assert client.get("/predict").get_json()["error"]["code"] == "method_not_allowed"


def test_every_input_form_gives_the_same_probabilities_as_predict(client, images):
    expected = np.array([list(client.post("/predict", data=png(image), content_type="image/png")
                              .get_json()["probabilities"].values()) for image in images], dtype=np.float32)
    scaled = (images / np.float32(255)).astype(np.float32)
    forms = [
        image_input("FP32", scaled.tolist(), [3, 1, 28, 28]),
        image_input("FP32", scaled.reshape(3, 784).tolist(), [3, 784]),
        image_input("FP32", scaled.ravel().tolist(), [3, 28, 28]),  # flat data, any shape: the protocol allows it
        image_input("UINT8", images.tolist(), [3, 28, 28]),
        image_input("BYTES", [base64.b64encode(png(image)).decode() for image in images], [3]),
        image_input("BYTES", [[f"data:image/png;base64,{base64.b64encode(png(image)).decode()}"] for image in images],
                    [3, 1]),
    ]
    for form in forms:
        assert np.abs(probabilities(client.post(INFER, json=form)) - expected).max() <= 1e-6, form["inputs"][0]["shape"]


def test_binary_request_and_response_through_tritonclients_codec(client, images):
    files = np.array([png(image) for image in images], dtype=object)
    tensor = triton.InferInput("image", [3], "BYTES")
    tensor.set_data_from_numpy(files, binary_data=True)
    body, json_size = triton.InferenceServerClient.generate_request_body([tensor], request_id="r1")
    response = client.post(INFER, data=body, headers={"Inference-Header-Content-Length": str(json_size)},
                           content_type="application/octet-stream")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/octet-stream"
    result = triton.InferenceServerClient.parse_response_body(
        response.get_data(), header_length=int(response.headers["Inference-Header-Content-Length"]))
    assert result.get_response()["id"] == "r1" and result.get_response()["model_version"] == "1"
    json_answer = client.post(INFER, json=image_input("UINT8", images.tolist(), [3, 28, 28])).get_json()
    by_name = {o["name"]: o["data"] for o in json_answer["outputs"]}
    assert np.abs(result.as_numpy("probabilities").ravel() - np.array(by_name["probabilities"])).max() <= 1e-6
    assert result.as_numpy("class_index").tolist() == by_name["class_index"]
    assert [label.decode() for label in result.as_numpy("label")] == by_name["label"]


def test_outputs_selects_and_orders_the_answer_and_id_is_echoed_only_when_sent(client, images):
    body = image_input("UINT8", images[:1].tolist(), [1, 28, 28])
    answer = client.post(INFER, json={**body, "id": "abc", "outputs": [{"name": "label"}, {"name": "class_index"}]})
    outputs = answer.get_json()["outputs"]
    assert answer.get_json()["id"] == "abc"
    assert [(o["name"], o["datatype"], o["shape"]) for o in outputs] == [("label", "BYTES", [1]), ("class_index", "INT64", [1])]
    assert "id" not in client.post(INFER, json=body).get_json()


@pytest.mark.parametrize("body, message", [
    ({"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [1, 784], "data": [0] * 784}]},
     "send exactly one input, named 'image'; got ['pixels']"),
    (image_input("INT32", [0] * 784, [1, 784]), "datatype INT32 is not accepted"),
    (image_input("FP32", [0.0] * 784, [1, 27, 28]), "'data' has 784 elements, but its shape holds 756"),
    (image_input("FP32", [0.0] * 756, [1, 27, 28]), "FP32 shape must be [N,1,28,28], [N,28,28] or [N,784], not [1, 27, 28]"),
    (image_input("FP32", [2.0] * 784, [1, 784]), "FP32 values must lie in [0, 1]"),
    (image_input("BYTES", ["not base64!"], [1]), "BYTES data in JSON must be base64 image files"),
    (image_input("BYTES", [base64.b64encode(b"not an image").decode()], [1]), "not a readable image"),
    (image_input("BYTES", ["aGk=", "aGk="], [1, 2]), "BYTES shape must be [N] or [N,1]"),
    (image_input("UINT8", [], [0, 784]), "the batch is empty"),
    (image_input("UINT8", [0] * 784, [1, 784]) | {"outputs": [{"name": "logits"}]}, "unknown output 'logits'"),
])
def test_bad_requests_are_400_in_the_protocols_form(client, body, message):
    response = client.post(INFER, json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_nan_in_fp32_data_is_a_400(client):
    body = json.dumps(image_input("FP32", [0.0] * 784, [1, 784])).replace("0.0", "NaN", 1)
    response = client.post(INFER, data=body, content_type="application/json")
    assert response.status_code == 400 and "finite" in response.get_json()["error"]


def test_limits_are_413_in_the_protocols_form(client):
    too_many = client.post(INFER, json=image_input("UINT8", [0] * 5 * 784, [5, 784]))
    assert too_many.status_code == 413
    assert too_many.get_json() == {"error": "5 images sent; at most 4 per request"}
    too_large = client.post(INFER, data=b"x" * 60_000, content_type="application/json")
    assert too_large.status_code == 413 and isinstance(too_large.get_json()["error"], str)
    assert client.get("/v2/health/ready").status_code == 200  # and it keeps serving


def test_not_loaded_is_503_in_the_protocols_form(trained_model_dir):
    client = serving_app(MODEL_DIR=trained_model_dir, load=False).test_client()
    assert client.get("/v2/health/live").status_code == 200
    for response in (client.get("/v2/health/ready"), client.get("/v2/models/fashion-mnist"),
                     client.get("/v2/models/fashion-mnist/ready"), client.post(INFER, json={})):
        assert response.status_code == 503
        assert response.get_json() == {"error": "the model is not loaded yet"}


def test_request_ids_version_header_and_metrics_cover_v2(client, images):
    response = client.post(INFER, json=image_input("UINT8", images.tolist(), [3, 28, 28]),
                           headers={"X-Request-ID": "v2-test-1"})
    assert response.headers["X-Request-ID"] == "v2-test-1" and response.headers["X-Model-Version"]
    labels = {o["name"]: o["data"] for o in response.get_json()["outputs"]}["label"]
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "http_requests_total", route="/v2/models/<model_name>/infer", method="POST",
                 status="200") >= 1
    for label in labels:
        assert value(found, "predictions_total", label=label) >= 1
