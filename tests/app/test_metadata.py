"""GET /v1/models/fashion-mnist: model.json as training wrote it, plus backend and device."""
from __future__ import annotations

import json

from tests.conftest import serving_app


def test_metadata_is_model_json_plus_backend_and_device(trained_model_dir):
    client = serving_app(MODEL_DIR=trained_model_dir).test_client()
    body = client.get("/v1/models/fashion-mnist").get_json()
    model_json = json.loads((trained_model_dir / "model.json").read_text())
    assert body == {**model_json, "backend": "onnx", "device": "cpu", "serving_version": 1,
                    "versions": [{"version": 1, "status": "serving", "model_version": model_json["version"]}]}
