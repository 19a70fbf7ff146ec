"""/healthz while the process lives, /readyz once the model is loaded (the 503 before that is in
test_error_handlers.py)."""
from __future__ import annotations

import json

from tests.conftest import serving_app


def test_healthz_and_readyz(trained_model_dir):
    client = serving_app(MODEL_DIR=trained_model_dir).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    version = json.loads((trained_model_dir / "model.json").read_text())["version"]
    assert ready == {"status": "ready", "model_version": version, "serving_version": 1, "backend": "onnx",
                     "device": "cpu"}
