"""kill -9 a worker under load: gunicorn replaces it and no request after that fails; the killed
worker's counts stay in /metrics."""
from __future__ import annotations

import os
import re
import signal
import threading
import time

import requests


def _predict_count(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    match = re.search(r'^http_requests_total{route="/predict",method="POST",status="200"} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_killed_worker_is_replaced_and_requests_keep_succeeding(gunicorn_server, trained_model_dir):
    server = gunicorn_server(trained_model_dir, workers=2)
    results: list[tuple[float, bool]] = []  # (start time, succeeded)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = requests.post(f"{server.url}/predict", json={"image": [0] * 784},
                                   timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            results.append((started, ok))

    clients = [threading.Thread(target=load) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)
    before_kill = _predict_count(server.url)
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a new worker, booted and ready
        pids = server.worker_pids()
        if victim not in pids and len(pids) == 2 and server.log().count("INFO app.model: ready:") >= 3:
            break
        time.sleep(0.05)
    replaced_at = time.monotonic()
    time.sleep(1.5)
    stop.set()
    for thread in clients:
        thread.join()

    assert victim not in server.worker_pids() and len(server.worker_pids()) == 2
    after = [ok for started, ok in results if started >= replaced_at]
    assert len(after) > 20 and all(after)
    # At most the requests in flight on the killed worker may have failed.
    assert sum(not ok for _, ok in results) <= len(clients)
    assert _predict_count(server.url) >= before_kill  # counters did not go backwards
    assert server.process.poll() is None
    server.stop()
