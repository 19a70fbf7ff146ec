"""kill -9 a worker: every count it made stays in /metrics (prometheus_client's files outlive it),
gunicorn replaces it, and under load no request fails but those the killed worker held."""
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


def kill_and_wait_for_replacement(server, victim: int) -> float:
    """SIGKILL `victim`, wait for gunicorn to replace it with a booted, ready worker; the time
    (time.monotonic) at which the victim was gone: reaped by the master, its sockets closed."""
    ready_lines = server.log().count("INFO inference.model_state: ready:")
    os.kill(victim, signal.SIGKILL)
    # Polled finely: a process of several threads takes tens of milliseconds to die, and until its
    # last thread has exited its listening socket still takes new connections (and resets them).
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{victim}") and time.monotonic() < deadline:
        time.sleep(0.001)
    gone_at = time.monotonic()

    def replaced() -> bool:  # a new worker, booted and ready
        pids = server.worker_pids()
        return victim not in pids and len(pids) == 2 and server.log().count("INFO inference.model_state: ready:") > ready_lines

    if not wait_until(replaced, timeout=30):
        raise TimeoutError(f"worker {victim} was not replaced:\n{server.log()}")
    return gone_at


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
    results: list[tuple[float, int | str | None]] = []  # (start, status; None: dropped; else what failed)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:  # a new connection each time, as separate clients would open
                status = requests.post(f"{server.url}/predict", json={"image": [0] * 784}, timeout=30).status_code
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                status = None  # the connection closed before the whole answer came (the body cut too)
            except requests.RequestException as exc:  # a timeout: not what a dead worker does
                status = type(exc).__name__
            results.append((started, status))

    clients = [threading.Thread(target=load) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)  # under load
    before_kill = predict_counts(server.url)["requests"]
    gone_at = kill_and_wait_for_replacement(server, server.worker_pids()[0])
    replaced_at = time.monotonic()
    time.sleep(1.5)  # load on the new worker too
    stop.set()
    for thread in clients:
        thread.join()

    # Only the connections the killed worker held when it was gone (accepted, or waiting on its
    # socket, which takes new ones until its last thread exits) may drop; none gets an error answer,
    # and every request started after that succeeds, on the other worker or the new one.
    assert all(status in (200, None) for _, status in results), sorted({str(s) for _, s in results})
    dropped = [started for started, status in results if status is None]
    assert all(started < gone_at for started in dropped), (gone_at, dropped)
    assert all(status == 200 for started, status in results if started >= gone_at)
    after = sum(started >= replaced_at for started, _ in results)
    assert after > 20
    assert predict_counts(server.url)["requests"] >= before_kill + after  # never backwards
    assert server.process.poll() is None
