"""Health, readiness, metadata, metrics, request ids and the access log, through the test client."""
from __future__ import annotations

import json
import logging
import re

import pytest

from app import create_app


@pytest.fixture()
def client(trained_model_dir):
    return create_app({"MODEL_DIR": trained_model_dir}).test_client()


def test_healthz_and_readyz(client, trained_model_dir):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    version = json.loads((trained_model_dir / "model.json").read_text())["version"]
    assert ready == {"status": "ready", "model_version": version, "serving_version": 1, "backend": "onnx",
                     "device": "cpu"}


def test_metadata_is_model_json_plus_backend_and_device(client, trained_model_dir):
    body = client.get("/v1/models/fashion-mnist").get_json()
    model_json = json.loads((trained_model_dir / "model.json").read_text())
    assert body == {**model_json, "backend": "onnx", "device": "cpu", "serving_version": 1,
                    "versions": [{"version": 1, "status": "serving", "model_version": model_json["version"]}]}


def _sample(text: str, name: str, **labels) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}{{{re.escape(inner)}}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_latency_and_predictions(client):
    for _ in range(3):
        client.post("/predict", json={"image": [0] * 784})
    client.post("/predict", json={"images": [[0] * 784, [255] * 784]})
    client.post("/predict", data=b"x", content_type="text/plain")
    client.get("/no/such/path")
    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert _sample(text, "http_requests_total", route="/predict", method="POST", status="200") == 4
    assert _sample(text, "http_requests_total", route="/predict", method="POST", status="415") == 1
    assert _sample(text, "http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert _sample(text, "http_request_duration_seconds_count", route="/predict") == 5
    assert _sample(text, "http_request_duration_seconds_bucket", route="/predict", le="+Inf") == 5
    predicted = sum(float(v) for v in re.findall(r"^predictions_total\{.*\} (\S+)$", text, re.M))
    assert predicted == 5
    assert _sample(text, "predict_stage_seconds_total", stage="model") > 0


def test_request_id_is_echoed_when_plain_else_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    for sent in ("", "has space", "x" * 200, "a\"quote"):
        got = client.get("/healthz", headers={"X-Request-ID": sent} if sent else {}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", got)
    error = client.get("/nope", headers={"X-Request-ID": "err-1"})
    assert error.headers["X-Request-ID"] == "err-1"


def test_access_log_line_has_request_id_status_and_latency(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.post("/predict", json={"image": [0] * 784}, headers={"X-Request-ID": "log-me"})
    lines = [r.getMessage() for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 1
    assert re.fullmatch(r'log-me "POST /predict" 200 \d+ \d+\.\d\dms', lines[0])
