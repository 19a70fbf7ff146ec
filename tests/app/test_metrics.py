"""/metrics through the test client, on prometheus_client's ordinary registry (no gunicorn): the
families, types and labels, and counts a request adds, read by the next scrape at once. The
counters live in the process, so every test compares a scrape before and after its requests.
Under gunicorn (multiprocess mode) see tests/integration/test_serve_*.py."""
from __future__ import annotations

import pytest

from tests.conftest import serving_app
from tests.prometheus_text import families, samples, value


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def test_families_have_their_types(client):
    client.post("/predict", json={"image": [0] * 784})
    found = families(client.get("/metrics").get_data(as_text=True))
    assert {name: found.get(name) for name in ("http_requests", "http_request_duration_seconds",
                                               "predictions", "predict_stage_seconds")} == {
        "http_requests": "counter", "http_request_duration_seconds": "histogram",
        "predictions": "counter", "predict_stage_seconds": "counter"}
    assert not [name for name in found if name.endswith("_created")]


def test_requests_latency_and_predictions_are_counted(client):
    before = scrape(client)
    for _ in range(3):
        client.post("/predict", json={"image": [0] * 784})
    client.post("/predict", json={"images": [[0] * 784, [255] * 784]})
    client.post("/predict", data=b"x", content_type="text/plain")
    client.get("/no/such/path")
    after = scrape(client)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("http_requests_total", route="/predict", method="POST", status="200") == 4
    assert added("http_requests_total", route="/predict", method="POST", status="415") == 1
    assert added("http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert added("http_request_duration_seconds_count", route="/predict") == 5
    assert added("http_request_duration_seconds_bucket", route="/predict", le="+Inf") == 5
    assert added("http_request_duration_seconds_sum", route="/predict") > 0
    labels = [dict(key)["label"] for name, key in after if name == "predictions_total"]
    assert sum(added("predictions_total", label=label) for label in labels) == 5
    assert added("predict_stage_seconds_total", stage="decode") > 0
    assert added("predict_stage_seconds_total", stage="model") > 0


def test_histogram_buckets_are_cumulative(client):
    client.post("/predict", json={"image": [0] * 784})
    found = scrape(client)
    buckets = sorted((float(dict(key)["le"]), count) for (name, key), count in found.items()
                     if name == "http_request_duration_seconds_bucket" and dict(key)["route"] == "/predict")
    counts = [count for _, count in buckets]
    assert buckets[-1][0] == float("inf") and len(buckets) == 14
    assert counts == sorted(counts) and counts[-1] == value(found, "http_request_duration_seconds_count",
                                                            route="/predict")


def test_a_scrape_counts_itself_in_the_next_one(client):
    first = value(scrape(client), "http_requests_total", route="/metrics", method="GET", status="200")
    second = value(scrape(client), "http_requests_total", route="/metrics", method="GET", status="200")
    assert second == first + 1
