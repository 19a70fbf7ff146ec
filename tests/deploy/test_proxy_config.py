"""docker/nginx/render.py's issue-23 parts: the per-address rate limit from PROXY_RATE_LIMIT and
PROXY_RATE_BURST, and the resolver (the container network's DNS: the first nameserver only)."""
from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT


@pytest.fixture()
def render_module():
    spec = importlib.util.spec_from_file_location("nginx_render", ROOT / "docker" / "nginx" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_first_nameserver_only_and_the_rate_settings(render_module, tmp_path, monkeypatch):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search dns.podman\nnameserver 10.89.0.1\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\n")
    monkeypatch.setattr(render_module, "RESOLV_CONF", resolv)
    text = render_module.render({"PROXY_RATE_LIMIT": "7", "PROXY_RATE_BURST": "3"})
    assert "resolver 10.89.0.1 valid=2s ipv6=off;" in text
    assert "rate=7r/s;" in text and "limit_req zone=per_client burst=3 nodelay;" in text
    assert "set $api api:8000;" in text and "proxy_pass http://$api;" in text
    assert render_module.nameservers(resolv.read_text()) == ["10.89.0.1", "10.255.255.53", "[fe80::1]"]


def test_defaults_and_an_explicit_resolver(render_module, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "RESOLV_CONF", tmp_path / "absent")
    text = render_module.render({})
    assert "resolver 127.0.0.11 valid=2s" in text  # Docker's embedded DNS
    assert "rate=100r/s;" in text and "burst=200 nodelay;" in text
    assert "resolver 10.0.0.2 valid=2s" in render_module.render({"RESOLVER": "10.0.0.2"})


@pytest.mark.parametrize("name,value", [("PROXY_RATE_LIMIT", "0"), ("PROXY_RATE_BURST", "-1")])
def test_a_rate_out_of_range_stops_the_proxy_with_one_line(render_module, name, value):
    with pytest.raises(SystemExit, match=rf"^{name}="):
        render_module.render({name: value})
