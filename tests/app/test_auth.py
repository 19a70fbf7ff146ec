"""API keys (app/auth.py) through the test client: which routes need a key, the two ways to send
one, the 401 answer, and the key id the access line gets. Settings parsing: tests/inference/test_settings.py;
a real gunicorn: tests/integration/test_serve_keys.py."""
from __future__ import annotations

import pytest

from app.auth import KEY_ID, key_id
from tests.conftest import serving_app

PIXELS = {"image": [0] * 784}
NEEDS_KEY = [("get", "/metrics", None), ("post", "/predict", PIXELS), ("get", "/v1/models/fashion-mnist", None),
             ("get", "/v2", None), ("get", "/v2/models/fashion-mnist", None),
             ("post", "/v2/models/fashion-mnist/infer", {"inputs": []}), ("get", "/nope", None)]
OPEN = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/", "/page/page.js", "/openapi.json", "/docs/"]


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir, API_KEYS="k1, k2").test_client()


@pytest.mark.parametrize("method,path,body", NEEDS_KEY)
def test_every_api_route_needs_a_key(client, method, path, body):
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["X-Request-ID"]  # bookkeeping still ran
    document = response.get_json()
    if path.startswith("/v2"):
        assert "key" in document["error"]  # the protocol's own error form
    else:
        assert document["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", OPEN)
def test_probes_page_and_docs_stay_open(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer k1"}, {"authorization": "bearer k2"},
                                     {"X-API-Key": "k2"}, {"X-API-Key": " k1 "}])
def test_a_key_opens_every_route(client, headers):
    assert client.post("/predict", json=PIXELS, headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/v2/models/fashion-mnist", headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer k3"}, {"Authorization": "Basic k1"},
                                     {"Authorization": "Bearer "}, {"X-API-Key": "k1k2"},
                                     {"X-API-Key": "K1"}, {"Authorization": "Bearer k1,k2"}])
def test_a_wrong_key_is_a_401(client, headers):
    response = client.post("/predict", json=PIXELS, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_the_key_id_reaches_the_environ_never_the_key(trained_model_dir):
    app = serving_app(MODEL_DIR=trained_model_dir, API_KEYS="secret-key-1")
    seen = {}

    @app.after_request
    def grab(response):
        from flask import request
        seen.update(request.environ)
        return response

    client = app.test_client()
    client.get("/metrics", headers={"X-API-Key": "secret-key-1"})
    assert seen[KEY_ID] == key_id("secret-key-1") and len(seen[KEY_ID]) == 8
    metrics = client.get("/metrics", headers={"X-API-Key": "secret-key-1"}).get_data(as_text=True)
    assert "secret-key-1" not in metrics


def test_without_keys_the_service_is_open(trained_model_dir):
    client = serving_app(MODEL_DIR=trained_model_dir).test_client()
    assert client.get("/metrics").status_code == 200
    assert client.post("/predict", json=PIXELS).status_code == 200


def test_keys_from_a_file_add_to_the_list(trained_model_dir, tmp_path):
    secret = tmp_path / "keys"
    secret.write_text("from-file\n\n  other  \n")
    client = serving_app(MODEL_DIR=trained_model_dir, API_KEYS="k1", API_KEYS_FILE=secret).test_client()
    for key in ("k1", "from-file", "other"):
        assert client.get("/metrics", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/metrics", headers={"X-API-Key": "from-file other"}).status_code == 401
