"""`--visdom URL` against Visdom's real server on 127.0.0.1, started and stopped here; Visdom's own
client reads the windows back."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.training.monitoring import train_argv, visdom_server
from training.data import CLASSES

pytestmark = pytest.mark.slow
visdom = pytest.importorskip("visdom")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with visdom_server(free_port(), tmp_path_factory.mktemp("visdom-envs")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def run(server, fmnist_dir, tmp_path_factory):
    """A two-epoch run streamed to the server (batch loss every 5 of the 17 batches per epoch)."""
    out = tmp_path_factory.mktemp("artifacts")
    done = subprocess.run([sys.executable, "-m", "training",
                           *train_argv(fmnist_dir, out, "--visdom", server, "--log-every", "5")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    client = visdom.Visdom(server="http://127.0.0.1", port=int(server.rsplit(":", 1)[1]),
                           raise_exceptions=True, use_incoming_socket=False)
    envs = [e for e in client.get_env_list() if e.startswith("fashion-mnist_linear-module-")]
    assert len(envs) == 1, client.get_env_list()
    return client, envs[0], out


def window(run, name: str) -> dict:
    client, env, _ = run
    return json.loads(client.get_window_data(name, env))


def traces(run, name: str) -> dict[str, dict]:
    return {trace["name"]: trace for trace in window(run, name)["content"]["data"]}


def test_last_points_equal_metrics_json(run):
    epochs = json.loads((run[2] / "metrics.json").read_text())["epochs"]
    loss, accuracy = traces(run, "loss"), traces(run, "accuracy")
    assert loss["train"]["x"] == [1, 2] and accuracy["test"]["x"] == [1, 2]
    assert loss["train"]["y"] == pytest.approx([e["train_loss"] for e in epochs], rel=1e-9)
    assert accuracy["train"]["y"] == pytest.approx([e["train_acc"] for e in epochs], rel=1e-9)
    assert accuracy["test"]["y"][-1] == pytest.approx(epochs[-1]["test_acc"], rel=1e-9)


def test_batch_loss_every_n_batches_on_the_epoch_axis(run):
    batch = traces(run, "loss")["train (batch)"]
    steps = [5, 10, 15]  # of 17 batches per epoch (540 images after the validation split, batches of 32)
    assert batch["x"] == pytest.approx([s / 17 for s in steps] + [1 + s / 17 for s in steps])
    assert all(0 < y < 5 for y in batch["y"])


def test_samples_confusion_and_summary_at_the_end(run):
    card = json.loads((run[2] / "model.json").read_text())
    samples = window(run, "samples")
    assert samples["type"] == "image" and samples["content"]["src"].startswith("data:image/png;base64,")
    confusion = window(run, "confusion")["content"]["data"][0]
    counts = confusion["z"][::-1]  # drawn with the first class on top
    assert sum(map(sum, counts)) == card["dataset"]["test_size"]
    assert sum(counts[i][i] for i in range(10)) == round(card["test_accuracy"] * card["dataset"]["test_size"])
    assert list(confusion["x"]) == list(CLASSES) and list(confusion["y"]) == list(CLASSES)[::-1]
    summary = window(run, "summary")["content"]
    assert card["version"] in summary and "test_acc" in summary


def test_a_server_that_goes_away_mid_run_is_one_warning(tmp_path, capsys):
    from training.monitor import Monitors
    from training.monitor_visdom import VisdomMonitor

    with visdom_server(free_port(), tmp_path) as (url, _):
        monitors = Monitors({"visdom": VisdomMonitor(url, env="fashion-mnist_goes-away")})
        monitors.on_epoch({"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.5})
    monitors.on_epoch({"epoch": 2, "train_loss": 0.9, "train_acc": 0.6, "test_acc": 0.6})
    monitors.on_epoch({"epoch": 3, "train_loss": 0.8, "train_acc": 0.7, "test_acc": 0.7})
    monitors.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: visdom: ") and not monitors


def test_a_stalled_server_never_holds_training_up(tmp_path, capsys, monkeypatch):
    """The server stopped (SIGSTOP: connections open, no answers): the loop's calls only queue, and
    the end of the run waits DRAIN_TIMEOUT_S at most, then warns."""
    from training import monitor_visdom
    from training.monitor import Monitors

    monkeypatch.setattr(monitor_visdom, "DRAIN_TIMEOUT_S", 2.0)
    with visdom_server(free_port(), tmp_path) as (url, process):
        monitors = Monitors({"visdom": monitor_visdom.VisdomMonitor(url, env="fashion-mnist_stalled")})
        process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            for step in range(1, 201):
                monitors.on_batch(step, step / 100, 1.0)
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            monitors.close()
            assert time.monotonic() - started < 10
        finally:
            process.send_signal(signal.SIGCONT)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "the server took over 2 s" in err[0]
