"""The door (issue 23): the proxy's per-address rate limit answers 429 JSON with Retry-After, and
clients hammering with a wrong key do not starve the clients with a valid one."""
from __future__ import annotations

import json
import time

import pytest
import requests

from tests.reliability.harness import WrongKeyClients, normal_load

KEY = "door-key"


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    return gunicorn_server(trained_model_dir, workers=2, env={"API_KEYS": KEY, "HOST": "127.0.0.1"})


def test_over_the_rate_a_client_gets_429_json_with_retry_after(nginx_proxy, server):
    proxy = nginx_proxy(server.url, env={"PROXY_RATE_LIMIT": "5", "PROXY_RATE_BURST": "3"})
    statuses, limited = [], None
    with requests.Session() as session:
        for _ in range(20):
            response = session.get(f"{proxy.url}/healthz", timeout=5)
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = response
    assert statuses[:4] == [200] * 4 and 429 in statuses, statuses  # the burst, then the limit
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["Content-Type"] == "application/json"
    assert json.loads(limited.content)["error"]["code"] == "too_many_requests"
    time.sleep(1.2)
    assert requests.get(f"{proxy.url}/healthz", timeout=5).status_code == 200  # the rate refills


def test_fifty_wrong_key_clients_do_not_starve_keyed_ones(server):
    keyed = {"X-API-Key": KEY}
    alone = normal_load(server.url, 4, clients=2, headers=keyed)
    with WrongKeyClients(server.url, 50):
        attacked = normal_load(server.url, 4, clients=2, headers=keyed)
    assert alone["failures"] == attacked["failures"] == 0, (alone, attacked)
    # benchmarks/wrong_keys.py measures the figures (benchmarks/README.md); here a bound loose
    # enough for a busy two-core machine: p99 within 250 ms and a fifth of the throughput kept.
    assert attacked["p99_ms"] < 250, (alone, attacked)
    assert attacked["requests"] > alone["requests"] / 5, (alone, attacked)


def test_behind_the_proxy_a_wrong_key_flood_from_one_address_barely_slows_keyed_clients(nginx_proxy, server):
    """The deployed door: the flood's address is held to PROXY_RATE_LIMIT by nginx (429s answered
    without gunicorn), so keyed clients from another address keep their latency."""
    proxy = nginx_proxy(server.url)
    keyed = {"X-API-Key": KEY}
    alone = normal_load(proxy.url, 4, clients=2, headers=keyed)
    with WrongKeyClients(proxy.url, 50):
        attacked = normal_load(proxy.url, 4, clients=2, headers=keyed)
    assert alone["failures"] == attacked["failures"] == 0, (alone, attacked)
    assert attacked["p99_ms"] < 3 * alone["p99_ms"] + 20, (alone, attacked)
    assert attacked["requests"] > alone["requests"] / 3, (alone, attacked)
