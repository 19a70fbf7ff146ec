"""kill -9 a worker: every count it made stays in /metrics (prometheus_client's files outlive it),
gunicorn replaces it, and under load no request after that fails."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.conftest import wait_until
from tests.prometheus_text import samples, value


def predict_counts(url: str) -> dict[str, float]:
    """The /predict counters of one scrape: requests, latency observations, predictions, seconds."""
    found = samples(requests.get(f"{url}/metrics", timeout=10).text)
    return {"requests": value(found, "http_requests_total", route="/predict", method="POST", status="200"),
            "observations": value(found, "http_request_duration_seconds_count", route="/predict"),
            "predictions": sum(v for (name, _), v in found.items() if name == "predictions_total"),
            "model_seconds": value(found, "predict_stage_seconds_total", stage="model")}


def kill_and_wait_for_replacement(server, victim: int) -> None:
    ready_lines = server.log().count("INFO inference.model_state: ready:")
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:  # a new worker, booted and ready
        pids = server.worker_pids()
        return victim not in pids and len(pids) == 2 and server.log().count("INFO inference.model_state: ready:") > ready_lines

    if not wait_until(replaced, timeout=30):
        raise TimeoutError(f"worker {victim} was not replaced:\n{server.log()}")


def test_a_killed_workers_counts_stay(server):
    with ThreadPoolExecutor(4) as pool:  # until both workers have served some of ours
        for start in range(0, 400, 20):
            list(pool.map(lambda i: requests.post(f"{server.url}/predict", json={"image": [0] * 784},
                                                  headers={"X-Request-ID": f"kill-{i}"}, timeout=30),
                          range(start, start + 20)))
            if len(server.served_by("kill-")) == 2:
                break
    victim = min(server.served_by("kill-"))
    counts = predict_counts(server.url)
    assert counts["requests"] >= 20 and counts["predictions"] == counts["observations"] == counts["requests"]

    kill_and_wait_for_replacement(server, victim)
    assert predict_counts(server.url) == counts  # exactly: nothing lost, nothing counted twice


def test_killed_worker_is_replaced_and_requests_keep_succeeding(server):
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
    time.sleep(1.0)  # under load
    before_kill = predict_counts(server.url)["requests"]
    kill_and_wait_for_replacement(server, server.worker_pids()[0])
    replaced_at = time.monotonic()
    time.sleep(1.5)  # load on the new worker too
    stop.set()
    for thread in clients:
        thread.join()

    after = [ok for started, ok in results if started >= replaced_at]
    assert len(after) > 20 and all(after)
    # At most the requests in flight on the killed worker may have failed.
    assert sum(not ok for _, ok in results) <= len(clients)
    assert predict_counts(server.url)["requests"] >= before_kill + len(after)  # never backwards
    assert server.process.poll() is None
