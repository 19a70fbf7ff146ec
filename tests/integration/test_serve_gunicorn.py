"""The service under a real gunicorn with 2 workers: every real test image, sent as a PNG, gets the
label offline onnxruntime gives it; metrics add up across workers at once; the master holds no model."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import requests
from PIL import Image

from tests.prometheus_text import samples, value
from tests.conftest import png_bytes as png



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


def predict_total(url: str) -> float:
    found = samples(requests.get(f"{url}/metrics", timeout=10).text)
    return value(found, "http_requests_total", route="/predict", method="POST", status="200")


def test_metrics_add_up_across_workers_at_once(server):
    before = predict_total(server.url)
    sent = 0
    # Concurrent, until both workers have served some (their pids in the access lines of our ids):
    # the total then holds counts from both.
    with ThreadPoolExecutor(4) as pool:
        while sent < 400:
            codes = list(pool.map(lambda i: requests.post(
                f"{server.url}/predict", json={"image": [0] * 784}, headers={"X-Request-ID": f"sum-{i}"},
                timeout=30).status_code, range(sent, sent + 20)))
            assert codes == [200] * 20
            sent += 20
            if len(server.served_by("sum-")) == 2:
                break
    assert len(server.served_by("sum-")) == 2
    # No waiting: whichever worker answers the scrape, it reports the exact total right away.
    assert {predict_total(server.url) for _ in range(8)} == {before + sent}


def test_request_id_reaches_the_access_log_with_latency(server):
    response = requests.post(f"{server.url}/predict", json={"image": [0] * 784},
                             headers={"X-Request-ID": "integration-42"}, timeout=30)
    assert response.headers["X-Request-ID"] == "integration-42"
    # gunicorn's line (app/worker.py), in the one log format, with the body's bytes as sent.
    line = server.log_match(r'\[\d+\] INFO gunicorn\.access: integration-42 "POST /predict" 200 (\d+) \d+\.\d\dms$')
    assert line and int(line.group(1)) == len(response.content), server.log()
    # The target as the client sent it, query included; a quote cannot end the quoted field early.
    requests.get(f'{server.url}/healthz?probe="x"', headers={"X-Request-ID": "integration-43"}, timeout=10)
    assert server.log_match(r'integration-43 "GET /healthz\?probe=(%22|\\")x(%22|\\")" 200 \d+ ')
    # An id the app did not accept is replaced, in the answer and the line alike.
    generated = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "a b"}, timeout=10)
    assert server.log_match(rf'{generated.headers["X-Request-ID"]} "GET /healthz" 200 ')


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
