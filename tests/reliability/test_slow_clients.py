"""50 connections trickling their headers or bodies one byte a second, with nginx (the project's
proxy config) in front of gunicorn: normal clients see no failure and a p99 under 100 ms, and
nginx closes every slow connection after its configured timeout (3 s here)."""
from __future__ import annotations

import time

import pytest

from tests.reliability.harness import SlowClients, normal_load

TIMEOUT_S = 3


@pytest.fixture(scope="module")
def proxy(gunicorn_server, nginx_proxy, trained_model_dir):
    server = gunicorn_server(trained_model_dir, workers=2)
    return nginx_proxy(server.url, env={"PROXY_HEADER_TIMEOUT_S": str(TIMEOUT_S),
                                        "PROXY_BODY_TIMEOUT_S": str(TIMEOUT_S)})


def test_slow_clients_behind_nginx_do_not_hurt_normal_clients_and_are_closed(proxy):
    headers = SlowClients("127.0.0.1", proxy.port, count=25, mode="headers")
    bodies = SlowClients("127.0.0.1", proxy.port, count=25, mode="body")
    with headers, bodies:
        figures = normal_load(proxy.url, seconds=4, clients=2)
        time.sleep(TIMEOUT_S)  # past every slow connection's timeout (they were opened ~6 s ago)
    assert figures["requests"] > 50, figures
    assert figures["failures"] == 0, figures
    assert figures["p99_ms"] < 100, figures
    for slow in (headers, bodies):
        closed = [r.closed_after for r in slow.results]
        assert None not in closed, f"{closed.count(None)} of 50 slow connections still open after {TIMEOUT_S}+ s"
        assert max(closed) < TIMEOUT_S + 2.5, closed
