"""The service under a real gunicorn with 2 workers: every real test image, sent as a PNG, gets the
label offline onnxruntime gives it; metrics add up across workers; the master holds no model."""
from __future__ import annotations

import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import requests
from PIL import Image

from app.metrics_store import PUBLISH_SECONDS


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    srv = gunicorn_server(trained_model_dir, workers=2)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def test_images(fmnist_dir) -> np.ndarray:
    from training.data import load_idx
    return load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_served_labels_equal_offline_onnx_for_every_test_image(server, trained_model_dir, test_images):
    session = ort.InferenceSession(str(trained_model_dir / "model.onnx"))
    offline = session.run(["probabilities"], {"image": (test_images[:, None] / np.float32(255))})[0]

    def post(image: np.ndarray) -> dict:
        response = requests.post(f"{server.url}/predict", files={"image": ("x.png", png(image), "image/png")},
                                 timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(4) as pool:
        served = list(pool.map(post, test_images))
    assert [p["class_index"] for p in served] == offline.argmax(axis=1).tolist()
    got = np.array([list(p["probabilities"].values()) for p in served])
    assert np.abs(got - offline).max() <= 1e-6


def _count(text: str, route: str, status: str) -> float:
    match = re.search(rf'^http_requests_total{{route="{re.escape(route)}",method="POST",status="{status}"}} (\S+)$',
                      text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_add_up_across_workers(server):
    def total() -> float:
        return _count(requests.get(f"{server.url}/metrics", timeout=10).text, "/predict", "200")

    time.sleep(PUBLISH_SECONDS * 2)  # earlier tests' counts published everywhere
    before = total()
    with ThreadPoolExecutor(4) as pool:  # concurrent, so both workers serve some
        codes = list(pool.map(lambda _: requests.post(f"{server.url}/predict", json={"image": [0] * 784},
                                                      timeout=30).status_code, range(40)))
    assert codes == [200] * 40
    time.sleep(PUBLISH_SECONDS * 2)  # each worker publishes its counts at most this late
    # Whichever worker answers the scrape, it reports the exact total.
    assert {total() for _ in range(8)} == {before + 40}


def test_request_id_reaches_the_access_log_with_latency(server):
    response = requests.post(f"{server.url}/predict", json={"image": [0] * 784},
                             headers={"X-Request-ID": "integration-42"}, timeout=30)
    assert response.headers["X-Request-ID"] == "integration-42"
    assert re.search(r'integration-42 "POST /predict" 200 \d+ \d+\.\d\dms', server.log())


def test_readyz_and_metadata_report_device_and_backend(server):
    ready = requests.get(f"{server.url}/readyz", timeout=10).json()
    meta = requests.get(f"{server.url}/v1/models/fashion-mnist", timeout=10).json()
    assert (ready["device"], ready["backend"]) == (meta["device"], meta["backend"]) == ("cpu", "onnx")
    assert meta["version"] == ready["model_version"]


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_only_workers_load_onnxruntime(server):
    workers = server.worker_pids()
    assert len(workers) == 2
    assert "onnxruntime" not in _maps(server.pid)
    assert all("onnxruntime" in _maps(pid) for pid in workers)


def test_torch_backend_serves_the_same_labels(gunicorn_server, trained_model_dir, test_images):
    server = gunicorn_server(trained_model_dir, workers=1, env={"MODEL_BACKEND": "torch"})
    try:
        assert requests.get(f"{server.url}/readyz", timeout=10).json()["backend"] == "torch"
        images = test_images[::10]
        files = [("image", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(images)]
        response = requests.post(f"{server.url}/predict", files=files, timeout=30)
        session = ort.InferenceSession(str(trained_model_dir / "model.onnx"))
        offline = session.run(["probabilities"], {"image": (images[:, None] / np.float32(255))})[0]
        served = np.array([list(p["probabilities"].values()) for p in response.json()["predictions"]])
        assert np.abs(served - offline).max() <= 1e-5
        assert "torch" not in _maps(server.pid)  # the master imports no torch either
    finally:
        server.stop()
