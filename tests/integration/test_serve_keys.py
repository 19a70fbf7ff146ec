"""API keys on a real gunicorn (API_KEYS and API_KEYS_FILE): every route but the open ones needs a
key, sent either way, also by tritonclient's `headers=`; the access line names the key id, never the
key. And the start-up lines: a second server on a port in use fails with one line, and a server
without keys that listens beyond loopback warns once."""
from __future__ import annotations

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from app.auth import key_id
from tests.integration.conftest import wait_until

KEYS = ("key-one-secret", "key-two-secret")
PIXELS = {"image": [0] * 784}


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir, tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "api-keys"
    secret.write_text(KEYS[1] + "\n")
    srv = gunicorn_server(trained_model_dir, workers=1,
                          env={"HOST": "127.0.0.1", "API_KEYS": KEYS[0], "API_KEYS_FILE": str(secret)})
    yield srv
    srv.stop()


@pytest.mark.parametrize("method,path,body", [
    ("get", "/metrics", None), ("post", "/predict", PIXELS), ("get", "/v1/models/fashion-mnist", None),
    ("get", "/v2/models/fashion-mnist", None), ("post", "/v2/models/fashion-mnist/infer", {"inputs": []}),
    ("get", "/nope", None)])
def test_without_a_valid_key_every_api_route_is_a_401(server, method, path, body):
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = requests.request(method, server.url + path, json=body, headers=headers, timeout=10)
        assert response.status_code == 401, (path, headers)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Content-Type"] == "application/json"
        if not path.startswith("/v2"):
            assert response.json()["error"]["code"] == "unauthorized"


def test_probes_page_and_docs_need_no_key(server):
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/", "/page/page.js",
                 "/openapi.json", "/docs/"):
        assert requests.get(server.url + path, timeout=10).status_code == 200, path


def test_both_keys_both_ways_and_the_key_id_in_the_access_line(server):
    for key in KEYS:
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            response = requests.post(f"{server.url}/predict", json=PIXELS, timeout=10,
                                     headers={**headers, "X-Request-ID": f"keyed-{key_id(key)}"})
            assert response.status_code == 200
        assert server.log_match(rf'keyed-{key_id(key)} "POST /predict" 200 \d+ [\d.]+ms key={key_id(key)}$')
    metrics = requests.get(f"{server.url}/metrics", headers={"X-API-Key": KEYS[0]}, timeout=10)
    assert metrics.status_code == 200 and "http_requests_total" in metrics.text
    for key in KEYS:
        assert key not in server.log() and key not in metrics.text


def test_tritonclient_with_and_without_headers(server):
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()  # probes: open
        image = triton.InferInput("image", [1, 1, 28, 28], "FP32")
        image.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float32))
        with pytest.raises(InferenceServerException, match="key"):
            client.infer("fashion-mnist", [image])
        with pytest.raises(InferenceServerException):
            client.get_model_metadata("fashion-mnist")
        result = client.infer("fashion-mnist", [image], headers={"Authorization": f"Bearer {KEYS[0]}"})
        assert result.as_numpy("probabilities").shape == (1, 10)
        metadata = client.get_model_metadata("fashion-mnist", headers={"X-API-Key": KEYS[1]})
        assert metadata["name"] == "fashion-mnist"
    finally:
        client.close()


def test_a_second_server_on_a_port_in_use_fails_with_one_line(server, gunicorn_server, trained_model_dir):
    port = server.url.rsplit(":", 1)[1]
    second = gunicorn_server(trained_model_dir, workers=1, wait=False,
                             env={"HOST": "127.0.0.1", "PORT": port, "API_KEYS": "other"})
    assert second.process.wait(30) == 1
    lines = [line for line in second.log().splitlines() if line.strip()]
    assert any(f"cannot listen on 127.0.0.1:{port}" in line and "another server" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200  # the first one is untouched


def test_a_server_without_keys_beyond_loopback_warns_once(gunicorn_server, trained_model_dir):
    open_server = gunicorn_server(trained_model_dir, workers=1, env={"HOST": "0.0.0.0"})
    try:
        assert wait_until(lambda: "no API keys" in open_server.log(), 10)
        assert open_server.log().count("no API keys") == 1
        assert requests.get(f"{open_server.url}/metrics", timeout=10).status_code == 200
    finally:
        open_server.stop()
    local = gunicorn_server(trained_model_dir, workers=1, env={"HOST": "127.0.0.1"})
    local.stop()
    assert "no API keys" not in local.log()


@pytest.mark.parametrize("datatype", [["FP32"], {"a": 1}, None, 7, True])
def test_a_type_confused_v2_body_is_a_400_naming_the_field(server, datatype):
    # The fuzzer's find: a list or object as `datatype` was a 500 (unhashable type).
    body = {"inputs": [{"name": "image", "datatype": datatype, "shape": [1, 784], "data": [0.0] * 784}]}
    response = requests.post(f"{server.url}/v2/models/fashion-mnist/infer", json=body, timeout=10,
                             headers={"X-API-Key": KEYS[0]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("inputs[0].datatype must be string")
