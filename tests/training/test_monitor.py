"""The monitoring fan-out (training/monitor.py): a dashboard that cannot start or that fails later
is one warning line, and the run goes on with the others."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.training.monitoring import train_argv
from training.cli import main, parse_args
from training.config import TrainConfig
from training.monitor import Monitors, run_name
from training.monitor_visdom import server_parts


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.closed = False

    def on_batch(self, step, epoch, loss):
        self.calls.append(("batch", step, epoch, loss))

    def on_epoch(self, metrics):
        self.calls.append(("epoch", metrics["epoch"]))

    def on_end(self, end):
        self.calls.append(("end",))

    def close(self):
        self.closed = True


class Broken(Recorder):
    def on_epoch(self, metrics):
        raise ConnectionError("Error connecting to Visdom server")


def test_a_failing_dashboard_is_one_warning_and_the_others_go_on(capsys):
    good, broken = Recorder(), Broken()
    monitors = Monitors({"tensorboard": good, "visdom": broken})
    for epoch in (1, 2, 3):
        monitors.on_batch(epoch * 10, float(epoch), 0.5)
        monitors.on_epoch({"epoch": epoch})
    monitors.close()
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: visdom: Error connecting to Visdom server; training goes on without it"]
    assert [c for c in good.calls if c[0] == "epoch"] == [("epoch", 1), ("epoch", 2), ("epoch", 3)]
    assert broken.calls == [("batch", 10, 1.0, 0.5)] and broken.closed and good.closed


@pytest.mark.parametrize("url, parts", [
    ("http://visdom:8097", ("http://visdom", 8097, "/")),
    ("http://127.0.0.1:9000/", ("http://127.0.0.1", 9000, "/")),
    ("localhost", ("http://localhost", 8097, "/")),
    ("https://example.org/visdom/", ("https://example.org", 8097, "/visdom")),
    ("http://[::1]:8097", ("http://[::1]", 8097, "/")),
])
def test_server_parts(url, parts):
    assert server_parts(url) == parts


def test_run_names_are_unique_in_one_tensorboard_folder(tmp_path):
    config = TrainConfig(data_dir=tmp_path, model="mlp", tensorboard=tmp_path)
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert run_name(config, started) == "mlp-module-20260102-030405"
    (tmp_path / "mlp-module-20260102-030405").mkdir()
    assert run_name(config, started) == "mlp-module-20260102-030405-2"


def test_flags(tmp_path):
    config = parse_args(["--data-dir", str(tmp_path), "--visdom", "http://visdom:8097",
                         "--tensorboard", str(tmp_path / "runs"), "--log-every", "5"])
    assert (config.visdom, config.tensorboard, config.log_every) == (
        "http://visdom:8097", tmp_path / "runs", 5)
    defaults = parse_args(["--data-dir", str(tmp_path)])
    assert (defaults.visdom, defaults.tensorboard, defaults.log_every) == (None, None, 10)
    with pytest.raises(SystemExit):
        parse_args(["--log-every", "0"])


@pytest.mark.slow
def test_training_goes_on_with_the_visdom_server_down(fmnist_dir, tmp_path, free_port, capsys):
    out = tmp_path / "artifacts"
    assert main(train_argv(fmnist_dir, out, "--visdom", f"http://127.0.0.1:{free_port}")) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"warning: visdom at http://127.0.0.1:{free_port}: no Visdom server answers "
        "(ConnectionError); training goes on without it"]
    assert "epoch 2/2" in captured.out
    assert len(json.loads((out / "metrics.json").read_text())["epochs"]) == 2
    assert (Path(out) / "model.json").is_file()
