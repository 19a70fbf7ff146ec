"""The reliability suite: real gunicorn (tests/integration's factory) and Debian's nginx with the
project's proxy config. Every test here is marked `reliability` and `slow`."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import gunicorn_server  # noqa: F401  (the same session factory)
from tests.reliability.harness import start_nginx


@pytest.fixture(scope="session")
def nginx_proxy(tmp_path_factory):
    """Factory `(upstream_url, env=None) -> Nginx` on a free port; stops all at session end."""
    started = []

    def start(upstream_url: str, env: dict | None = None):
        proxy = start_nginx(int(upstream_url.rsplit(":", 1)[1]), tmp_path_factory.mktemp("nginx"), env)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)
