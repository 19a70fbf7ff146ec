"""Every client mistake answers JSON {"error": {"code", "message"}} with its status, never a 500 or a
traceback, and the app keeps serving after it."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import serving_app
from tests.conftest import png_bytes as png



BLANK = png(np.zeros((28, 28), dtype=np.uint8))

def _huge_canvas() -> bytes:
    """A real decompression bomb: 64 megapixels (over the 50 MP cap) in a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG")
    return buffer.getvalue()


HUGE_CANVAS = _huge_canvas()


@pytest.fixture(scope="module")
def app(trained_model_dir):
    # Small caps so that the limits are reached with small bodies.
    application = serving_app(MODEL_DIR=trained_model_dir, MAX_BATCH=3, MAX_UPLOAD_MB=0.05)
    application.add_url_rule("/boom", "boom", lambda: 1 / 0)  # stands for a bug of ours
    return application


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def multipart(*blobs: bytes, field: str = "image") -> dict:
    return {"data": {field: [(io.BytesIO(b), f"{i}.png") for i, b in enumerate(blobs)]},
            "content_type": "multipart/form-data"}


CASES = {
    # 400: not a readable image / not JSON
    "garbage bytes": (dict(data=b"not an image", content_type="image/png"), 400, "invalid_image"),
    "empty body": (dict(data=b"", content_type="image/png"), 400, "invalid_image"),
    "truncated png": (dict(data=BLANK[:30], content_type="image/png"), 400, "invalid_image"),
    "garbage in multipart": (multipart(BLANK, b"nope"), 400, "invalid_image"),
    "broken json": (dict(data=b'{"image": ', content_type="application/json"), 400, "invalid_json"),
    "json nested 20,000 deep": (dict(data=b'{"image": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
                                      content_type="application/json"), 400, "invalid_json"),
    "bad base64": (dict(json={"image": "@@@not base64@@@"}), 400, "invalid_base64"),
    "base64 of garbage": (dict(json={"image": "aGVsbG8="}), 400, "invalid_image"),
    "data: URL without a comma": (dict(json={"image": "data:image/png;base64"}), 400, "invalid_base64"),
    # 413: too large
    "body over MAX_UPLOAD_MB": (dict(data=b"\0" * 60_000, content_type="image/png"), 413,
                                "request_entity_too_large"),
    "more images than MAX_BATCH (json)": (dict(json={"images": [[0] * 784] * 4}), 413, "too_many_images"),
    "more images than MAX_BATCH (multipart)": (multipart(BLANK, BLANK, BLANK, BLANK), 413, "too_many_images"),
    "decompression bomb": (dict(data=HUGE_CANVAS, content_type="image/png"), 413, "image_too_large"),
    # 415: unsupported content type
    "text/plain": (dict(data=b"hello", content_type="text/plain"), 415, "unsupported_media_type"),
    "no content type": (dict(data=b"hello"), 415, "unsupported_media_type"),
    "form urlencoded": (dict(data={"image": "x"}), 415, "unsupported_media_type"),
    # 400 naming the field: the body breaks its schema (app/openapi.py's PredictJson)
    "json list": (dict(json=[1, 2, 3]), 400, "invalid_input"),
    "json without image": (dict(json={"picture": "x"}), 400, "invalid_input"),
    "both image and images": (dict(json={"image": [0] * 784, "images": []}), 400, "invalid_input"),
    "empty images list": (dict(json={"images": []}), 400, "invalid_input"),
    "images not a list": (dict(json={"images": "abc"}), 400, "invalid_input"),
    "image a number": (dict(json={"image": 5}), 400, "invalid_input"),
    "NaN pixel": (dict(data=b'{"image": [NaN' + b", 0" * 783 + b"]}", content_type="application/json"),
                  400, "invalid_input"),
    "string pixels": (dict(json={"image": ["a"] * 784}), 400, "invalid_input"),
    # 422: well-formed and well-typed input of the wrong shape or range
    "wrong shape": (dict(json={"image": [[0] * 27] * 28}), 422, "invalid_shape"),
    "pixel over 255": (dict(json={"image": [300] + [0] * 783}), 422, "out_of_range"),
    "float pixel over 1": (dict(json={"image": [1.5] + [0.0] * 783}), 422, "out_of_range"),
    "multipart without image field": (multipart(BLANK, field="file"), 422, "missing_image"),
}


@pytest.mark.parametrize("kwargs,status,code", CASES.values(), ids=CASES.keys())
def test_client_mistakes_are_json_errors(client, kwargs, status, code):
    response = client.post("/predict", **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in response.get_data(as_text=True)
    assert client.post("/predict", json={"image": [0] * 784}).status_code == 200  # still serving


def test_batch_errors_name_the_image(client):
    response = client.post("/predict", json={"images": [[0] * 784, "aGVsbG8="]})
    assert response.status_code == 400 and response.get_json()["error"]["message"].startswith("image 1:")


@pytest.mark.parametrize("method,path,status,code", [
    ("get", "/nope", 404, "not_found"),
    ("get", "/predict", 405, "method_not_allowed"),
    ("post", "/healthz", 405, "method_not_allowed"),
    ("delete", "/v1/models/fashion-mnist", 405, "method_not_allowed"),
])
def test_routing_errors_are_json(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    if status == 405:
        assert "Allow" in response.headers


def test_a_bug_is_a_json_500_without_traceback(client, caplog):
    response = client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.get_json()["error"] == {"code": "internal_error",
                                            "message": "internal error; request id bug-1"}
    assert "ZeroDivisionError" not in response.get_data(as_text=True)
    assert "ZeroDivisionError" in caplog.text  # the traceback is in the log instead


def test_not_ready_is_503_until_the_model_is_loaded(trained_model_dir):
    app = serving_app(MODEL_DIR=trained_model_dir, load=False)
    client = app.test_client()
    for method, path in (("get", "/readyz"), ("get", "/v1/models/fashion-mnist"), ("post", "/predict")):
        response = getattr(client, method)(path, **({"json": {"image": [0] * 784}} if method == "post" else {}))
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "service_unavailable"
    assert client.get("/healthz").status_code == 200  # alive while not ready
    app.extensions["model_state"].load()
    assert client.get("/readyz").status_code == 200
    assert client.post("/predict", json={"image": [0] * 784}).status_code == 200
