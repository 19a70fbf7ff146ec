"""app/access.py through the test client: request ids (echoed when plain, else generated), the
headers on every answer, and the route label of the request metrics. The access line is gunicorn's
(tests/app/test_worker.py, tests/integration/test_serve_gunicorn.py)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import serving_app
from app.context import ready_predictor
from tests.prometheus_text import samples, value


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


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


def test_every_answer_names_the_model_version_and_nosniff(client):
    version = client.get("/readyz").get_json()["model_version"]
    for response in (client.post("/predict", json={"image": [0] * 784}), client.get("/healthz"),
                     client.get("/nope"), client.post("/predict", data=b"x", content_type="text/plain")):
        assert response.headers["X-Model-Version"] == version
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_version_that_answered_is_named_even_after_a_switch(trained_model_dir):
    """The header comes from the predictor the request used, not the one serving when it ends."""
    app = serving_app(MODEL_DIR=trained_model_dir, MODEL_POLL_SECONDS=0)
    state = app.extensions["model_state"]
    answering = state.predictor

    @app.get("/switch-midway")
    def switch_midway():
        ready_predictor()
        state.predictor = None  # as if a roll-out had replaced it
        return {}

    response = app.test_client().get("/switch-midway")
    assert response.headers["X-Model-Version"] == answering.version


def test_the_route_label_is_the_pattern_and_unknown_paths_share_one(client):
    def count(route: str, status: str) -> float:
        found = samples(client.get("/metrics").get_data(as_text=True))
        return value(found, "http_requests_total", route=route, method="GET", status=status)

    before = count("/v2/models/<model_name>", "200"), count("unmatched", "404")
    client.get("/v2/models/fashion-mnist")
    client.get("/no/such/1")
    client.get("/no/such/2")
    assert (count("/v2/models/<model_name>", "200"), count("unmatched", "404")) == (before[0] + 1, before[1] + 2)
