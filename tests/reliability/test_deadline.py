"""One request cannot hold a worker: a pixel budget checked from the image headers before any
decode, and REQUEST_TIMEOUT_S checked between images. The worker stays healthy after both."""
from __future__ import annotations

import time

import pytest
import requests

from tests.reliability.harness import gradient_png, png_bytes

BIG = gradient_png(4000)  # 16 MP, a few KB: a full decode each


def _post_batch(url: str, images: list[bytes]) -> requests.Response:
    files = [("image", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    return requests.post(f"{url}/predict", files=files, timeout=60)


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    # one worker: the request after the slow one is served by that same worker
    return gunicorn_server(trained_model_dir, workers=1,
                           env={"REQUEST_TIMEOUT_S": "1", "MAX_REQUEST_PIXELS": "2000000000"})


def test_work_past_the_deadline_is_a_503_and_the_worker_stays_healthy(server):
    started = time.monotonic()
    response = _post_batch(server.url, [BIG] * 40)  # 640 MP: tens of seconds of decoding
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert elapsed < 8, f"the deadline of 1 s stopped the work only after {elapsed:.1f} s"
    healthy = requests.post(f"{server.url}/predict", data=png_bytes(), headers={"Content-Type": "image/png"},
                            timeout=10)
    assert healthy.status_code == 200


def test_pixel_budget_refuses_before_decoding(gunicorn_server, trained_model_dir):
    server = gunicorn_server(trained_model_dir, workers=1, env={"MAX_REQUEST_PIXELS": "20000000"})
    started = time.monotonic()
    response = _post_batch(server.url, [BIG] * 40)
    elapsed = time.monotonic() - started
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_pixels"
    assert elapsed < 3, f"refused only after {elapsed:.1f} s: images were decoded first"
    assert _post_batch(server.url, [BIG]).status_code == 200  # 16 MP: within the budget
