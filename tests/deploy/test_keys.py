"""API keys in the manifests (issue 23): the API and KServe's runtime read API_KEYS from one Secret,
optional (no Secret: the API is open), and the ServiceMonitor scrapes /metrics with a key from that
same Secret. docker-compose.yml passes API_KEYS through from the environment or .env (git-ignored)."""
from __future__ import annotations

import os

import yaml

from tests.deploy.manifests import DEPLOY, OVERLAYS, ROOT, container, env, kserve, one, overlay, render

SECRET = "fashion-mnist-api-keys"


def keys_ref(c: dict) -> dict:
    return env(c)["API_KEYS"]["valueFrom"]["secretKeyRef"]


def test_api_and_kserve_read_the_keys_from_one_optional_secret():
    refs = [keys_ref(container(one(overlay(name), "Deployment")["spec"]["template"]["spec"], "api"))
            for name in OVERLAYS]
    refs.append(keys_ref(container(one(kserve(), "ServingRuntime")["spec"], "kserve-container")))
    assert all(ref == {"name": SECRET, "key": "api-keys", "optional": True} for ref in refs), refs


def test_servicemonitor_sends_a_key_from_the_same_secret(tmp_path):
    k8s = os.path.relpath(DEPLOY / "k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n- {k8s}/overlays/cpu\ncomponents:\n- {k8s}/components/servicemonitor\n")
    endpoint = one(render(tmp_path), "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": SECRET, "key": "metrics-key"}}


def test_compose_passes_the_keys_and_the_proxy_rate_and_keeps_env_files_out_of_git():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["api"]["environment"]["API_KEYS"] == "${API_KEYS:-}"
    proxy = compose["services"]["proxy"]["environment"]
    assert {"PROXY_RATE_LIMIT", "PROXY_RATE_BURST"} <= set(proxy)
    assert ".env" in (ROOT / ".gitignore").read_text().split()
