"""SIGTERM drains: the request in flight completes, new connections are refused at once (never left
waiting in the backlog), and gunicorn exits once the worker is done."""
from __future__ import annotations

import signal
import socket
import threading
import time

import requests

from tests.reliability.harness import gradient_png

BIG = gradient_png(4000)


def test_sigterm_completes_in_flight_and_refuses_new_connections(gunicorn_server, trained_model_dir):
    server = gunicorn_server(trained_model_dir, workers=1,
                             env={"REQUEST_TIMEOUT_S": "30", "MAX_REQUEST_PIXELS": "2000000000"})
    answer: dict = {}

    def in_flight() -> None:
        files = [("image", (f"{i}.png", BIG, "image/png")) for i in range(12)]  # seconds of decoding
        try:
            answer["response"] = requests.post(f"{server.url}/predict", files=files, timeout=60)
        except requests.RequestException as exc:
            answer["error"] = exc

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.7)  # the request is in the worker
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)

    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    started = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            reply = sock.recv(100)
    except OSError:  # refused or reset: what a load balancer retries elsewhere at once
        reply = b"refused"
    waited = time.monotonic() - started
    assert waited < 1.0, f"a new connection during the drain waited {waited:.1f} s ({reply!r})"
    assert reply == b"refused" or reply.startswith(b"HTTP/1.1 503"), reply

    thread.join(60)
    assert "error" not in answer, answer.get("error")
    assert answer["response"].status_code == 200, answer["response"].text
    assert len(answer["response"].json()["predictions"]) == 12
    assert server.process.wait(30) == 0
