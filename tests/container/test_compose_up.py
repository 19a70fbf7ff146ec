"""`docker compose up --build` end to end: the train service trains on the real sample, the api
serves the model it wrote, and a second `up` serves again without retraining.

Runs when CI is set or RUN_CONTAINER_TESTS=1 (it builds two images: minutes the first time).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.container.compose_cli import Engine, Project, find_engine
from tests.container.predictions import assert_serves_like_onnxruntime
from tests.reliability.harness import SlowClients, normal_load

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1500)]

N_IMAGES = 32  # real test images posted in one request
BUILD_TIMEOUT = 1200  # a cold build downloads and installs torch
READY_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base_url: str, timeout: float = READY_TIMEOUT) -> float:
    """Poll /readyz (podman-compose runs no health checks on a timer); seconds until a 200."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        try:
            r = requests.get(f"{base_url}/readyz", timeout=2)
            if r.status_code == 200:
                return time.monotonic() - start
            last = f"{r.status_code} {r.text[:200]}"
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(0.25)
    raise AssertionError(f"{base_url}/readyz not 200 after {timeout:.0f}s (last: {last})")


@pytest.fixture(scope="module")
def engine() -> Engine:
    if not (os.environ.get("CI") or os.environ.get("RUN_CONTAINER_TESTS") == "1"):
        pytest.skip("container test: set RUN_CONTAINER_TESTS=1 (CI sets CI) to build and run "
                    "the images")
    found = find_engine()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="module")
def stack(engine, fmnist_dir):
    """`up -d --build` of a project of its own on a free port; `down -v` afterwards."""
    port = _free_port()
    project = Project(engine, f"fmnist-test-{uuid.uuid4().hex[:8]}", {
        "API_PORT": str(port),
        "FASHION_MNIST_DIR": str(Path(fmnist_dir).resolve()),
        "TRAIN_EPOCHS": "3",
        "TRAIN_BATCH_SIZE": "64",
        "WEB_CONCURRENCY": "2",
        "PROXY_HEADER_TIMEOUT_S": "3",
        "PROXY_BODY_TIMEOUT_S": "3",
        # Every client here is this one machine: one address to the per-address rate limit, whose
        # 429s tests/reliability/test_door.py checks on the same config.
        "PROXY_RATE_LIMIT": "100000",
        "PROXY_RATE_BURST": "100000",
    })
    base_url = f"http://127.0.0.1:{port}"
    try:
        project.compose("up", "-d", "--build", timeout=BUILD_TIMEOUT)
        wait_ready(base_url)
        yield project, base_url
    finally:
        try:
            project.compose("down", "-v", timeout=300)
        except AssertionError as e:
            print(f"cleanup failed: {e}")


def test_api_predicts_what_the_trained_model_predicts(stack, fmnist_dir, tmp_path):
    project, base_url = stack
    assert "wrote /models/1 " in project.logs("train")  # published as the repository's version 1
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.onnx", "model.json"):
        project.copy_out("api", f"/models/1/{name}", model / name)
    card = json.loads((model / "model.json").read_text())
    r = assert_serves_like_onnxruntime(base_url, model, Path(fmnist_dir), N_IMAGES)
    assert r["model_version"] == card["version"]


def test_api_container_is_healthy_slim_and_unprivileged(stack):
    project, _ = stack
    assert project.healthy("api")
    no_torch = project.exec("api", "python", "-c", "import importlib.util as u, os; "
                            "print(u.find_spec('torch') is None, os.getuid())")
    assert no_torch.stdout.split() == ["True", "10001"], no_torch


def test_torch_backend_in_the_slim_image_is_one_line_and_exit_3(stack):
    """The runtime image has no torch: MODEL_BACKEND=torch stops gunicorn before it forks."""
    project, _ = stack
    done = project.exec("api", "env", "MODEL_BACKEND=torch", "PORT=18001", "WEB_CONCURRENCY=2",
                        "gunicorn", "-c", "gunicorn.conf.py")
    log = done.stdout + done.stderr
    assert done.returncode == 3, log
    lines = [line for line in log.splitlines() if "cannot serve:" in line]
    assert len(lines) == 1 and "MODEL_BACKEND=torch needs PyTorch" in lines[0], log
    assert "Traceback" not in log and "Booting worker" not in log


def test_only_the_proxy_is_published_and_it_answers_its_own_errors_as_json(stack):
    project, base_url = stack
    assert project.engine_run("port", project.container("api")).strip() == ""
    assert project.engine_run("port", project.container("proxy")).strip()
    r = requests.post(f"{base_url}/predict", data=b"\0" * (11 * 1024 * 1024),
                      headers={"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_entity_too_large"


def test_compose_deployment_withstands_50_slow_clients(stack):
    """Issue 9: 50 connections trickling headers or bodies one byte a second through the published
    port; normal clients see no failure and a p99 under 100 ms; the proxy closes the slow ones."""
    _, base_url = stack
    port = int(base_url.rsplit(":", 1)[1])
    headers = SlowClients("127.0.0.1", port, count=25, mode="headers")
    bodies = SlowClients("127.0.0.1", port, count=25, mode="body")
    with headers, bodies:
        figures = normal_load(base_url, seconds=5, clients=2)
        time.sleep(3)  # PROXY_*_TIMEOUT_S=3: every slow connection is past it
    print(f"\nnormal clients beside 50 slow ones through compose: {figures}")
    assert figures["failures"] == 0 and figures["requests"] > 50, figures
    assert figures["p99_ms"] < 100, figures
    for slow in (headers, bodies):
        assert all(r.closed_after is not None and r.closed_after < 6 for r in slow.results), slow.results


def test_second_up_serves_without_retraining(stack, tmp_path):
    project, base_url = stack
    before = json.loads(project.copy_out("api", "/models/1/model.json", tmp_path / "before.json")
                        .read_text())
    # `down` keeps the volumes: the next `up` starts fresh containers on the trained model.
    project.compose("down", timeout=300)
    start = time.monotonic()
    project.compose("up", "-d", timeout=300)
    wait_ready(base_url)
    print(f"\nup -> /readyz 200 with a model in the volume: {time.monotonic() - start:.1f}s")

    after = json.loads(project.copy_out("api", "/models/1/model.json", tmp_path / "after.json")
                       .read_text())
    assert (after["created_at"], after["version"]) == (before["created_at"], before["version"])
    train_log = project.logs("train")
    assert "skipping training" in train_log and "wrote /models" not in train_log, train_log
    served = requests.get(f"{base_url}/v1/models/fashion-mnist", timeout=10).json()
    assert before["version"] in json.dumps(served)


def test_run_train_force_rolls_out_a_new_version_without_restart(stack):
    """`docker compose run --rm train --force` publishes version 2 into the volume; the running api
    switches to it by itself, answering every request meanwhile."""
    project, base_url = stack
    wait_ready(base_url)
    first = requests.get(f"{base_url}/readyz", timeout=10).json()
    boots = project.logs("api").count("Booting worker")
    project.compose("run", "--rm", "train", "--force", "--epochs", "1", timeout=600)
    published = time.monotonic()
    statuses, seen, streak = [], set(), 0
    deadline = published + 60
    while time.monotonic() < deadline and streak < 8:  # both workers answer from version 2
        r = requests.post(f"{base_url}/predict", json={"image": [0] * 784}, timeout=10)
        statuses.append(r.status_code)
        seen.add(r.json().get("model_version"))
        serving = requests.get(f"{base_url}/readyz", timeout=10).json()["serving_version"]
        streak = streak + 1 if serving == 2 else 0
    print(f"\nversion 2 served {time.monotonic() - published:.1f}s after `run train` returned")
    now = requests.get(f"{base_url}/readyz", timeout=10).json()
    assert (first["serving_version"], now["serving_version"]) == (1, 2)
    assert now["model_version"] != first["model_version"] and set(statuses) == {200}
    assert now["model_version"] in seen and seen <= {first["model_version"], now["model_version"]}
    versions = requests.get(f"{base_url}/v1/models/fashion-mnist", timeout=10).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions][0] == (2, "serving")
    assert project.logs("api").count("Booting worker") == boots  # no restart


def test_an_api_with_a_new_address_is_found_without_restarting_the_proxy(stack):
    """Issue 23: a recreated api container (`docker compose up -d --build api`, an upgrade) comes
    back with a new address while Docker compose leaves the proxy running; nginx, which looked `api`
    up only at its start, answered 502 from then on. Under podman the new address is made by taking
    the api off its network and putting it back (podman-compose's own `--force-recreate api` also
    recreates the proxy, which it starts with `--requires` on the api): the same proxy must find it
    within seconds, and serve on."""
    project, base_url = stack
    wait_ready(base_url)
    proxy_before, api = project.container("proxy"), project.container("api")
    networks = "{{range $name, $net := .NetworkSettings.Networks}}{{$name}}={{$net.IPAddress}} {{end}}"
    (network, ip_before), = [item.split("=") for item in project.engine_run("inspect", "-f", networks, api).split()]
    # Another container takes the api's address meanwhile, so that the api's new one differs.
    project.engine_run("network", "disconnect", network, api)
    placeholder = project.engine_run("run", "-d", "--rm", "--entrypoint", "sleep", "--network", network,
                                     "--ip", ip_before, "localhost/fashion-mnist-proxy:latest", "120"
                                     ).strip().splitlines()[-1]
    try:
        project.engine_run("network", "connect", "--alias", "api", network, api)
        (_, ip_after), = [item.split("=") for item in project.engine_run("inspect", "-f", networks, api).split()]
        print(f"\napi address {ip_before} -> {ip_after}")
        assert ip_after != ip_before
        started = time.monotonic()
        wait_ready(base_url, timeout=30)  # through the same proxy: the new address was found
        print(f"proxy served the new address after {time.monotonic() - started:.1f}s")
        time.sleep(2.5)  # every nginx worker's lookup (valid=2s) has expired: none holds the old address
        statuses = [requests.get(f"{base_url}/readyz", timeout=10).status_code for _ in range(40)]
        assert set(statuses) == {200}, statuses
        assert project.container("proxy") == proxy_before  # never restarted
    finally:
        project.engine_run("rm", "-f", placeholder)
