"""The compose `monitor` profile (Visdom and TensorBoard) as the files declare it: loopback-only
ports, the runs volume shared with `train`, a Visdom server that downloads nothing at start, and
no dashboard library in the serving image's lock."""
from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def stage(name: str) -> str:
    """The text of one stage of the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    return re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", text, re.S | re.M)[1]


def test_dashboards_are_in_the_monitor_profile_on_loopback_ports():
    found = services()
    for name, port in (("visdom", 8097), ("tensorboard", 6006)):
        service = found[name]
        assert service["profiles"] == ["monitor"] and service["build"]["target"] == "monitor"
        [published] = service["ports"]
        assert published.startswith("127.0.0.1:") and published.endswith(f":{port}")
    assert "--logdir" in found["tensorboard"]["command"]
    assert "runs:/runs:ro" in found["tensorboard"]["volumes"]


def test_train_writes_the_runs_tensorboard_reads():
    train = services()["train"]
    assert "runs:/runs" in train["volumes"]
    assert train["environment"]["TRAIN_TENSORBOARD"] == "${TRAIN_TENSORBOARD:-/runs}"
    assert "TRAIN_VISDOM" in train["environment"]


def test_visdom_starts_without_its_cdn_download():
    monitor = stage("monitor")
    assert "download_scripts()" in monitor  # at build time
    cmd = monitor[monitor.index("\nCMD"):]
    assert "run_server import main; main()" in cmd and "visdom.server\"" not in cmd


def test_the_serving_image_stays_slim():
    lock = (ROOT / "requirements" / "serve.lock").read_text().lower()
    for name in ("visdom", "tensorboard", "tornado", "torch"):
        assert not re.search(rf"^{name}==", lock, re.M), name
    assert "monitor.txt" not in stage("runtime") and "train.txt" not in stage("runtime")
