"""Request ids (echoed when plain, else generated) and the access log line, through the test client."""
from __future__ import annotations

import logging
import re

import pytest

from app import create_app


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return create_app({"MODEL_DIR": trained_model_dir}).test_client()


def test_request_id_is_echoed_when_plain_else_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = set()
    for sent in ("", "has space", "x" * 200, "a\"quote"):
        got = client.get("/healthz", headers={"X-Request-ID": sent} if sent else {}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", got)
        generated.add(got)
    assert len(generated) == 4  # a new id for every request
    error = client.get("/nope", headers={"X-Request-ID": "err-1"})
    assert error.headers["X-Request-ID"] == "err-1"


def test_access_log_line_has_request_id_status_and_latency(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.post("/predict", json={"image": [0] * 784}, headers={"X-Request-ID": "log-me"})
        client.get("/healthz?probe=1", headers={"X-Request-ID": "with-query"})
    lines = [r.getMessage() for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 2
    assert re.fullmatch(r'log-me "POST /predict" 200 \d+ \d+\.\d\dms', lines[0])
    assert re.fullmatch(r'with-query "GET /healthz\?probe=1" 200 \d+ \d+\.\d\dms', lines[1])
