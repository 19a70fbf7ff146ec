"""`--tensorboard DIR`: TensorBoard's own EventAccumulator reads the runs back, and a real
TensorBoard server lists two runs of one DIR side by side."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.training.monitoring import train_argv
from training.cli import main

pytestmark = pytest.mark.slow
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


@pytest.fixture(scope="module")
def runs(fmnist_dir, tmp_path_factory):
    """Two runs into one log folder (seeds 0 and 1); their artifacts folders."""
    logdir = tmp_path_factory.mktemp("runs")
    outs = []
    for seed in (0, 1):
        out = tmp_path_factory.mktemp(f"artifacts-{seed}")
        assert main(train_argv(fmnist_dir, out, "--tensorboard", str(logdir), "--seed", str(seed),
                               "--log-every", "5")) == 0
        outs.append(out)
    return logdir, outs


def accumulator(path):
    events = event_accumulator.EventAccumulator(str(path), size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
    return events.Reload()


def test_one_run_per_training_run(runs):
    logdir, _ = runs
    names = sorted(p.name for p in logdir.iterdir())
    assert len(names) == 2 and all(n.startswith("linear-module-") for n in names)


def test_scalars_equal_metrics_json(runs):
    logdir, outs = runs
    for run, out in zip(sorted(logdir.iterdir()), outs):
        epochs = json.loads((out / "metrics.json").read_text())["epochs"]
        events = accumulator(run)
        for key in ("train_loss", "train_acc", "test_acc"):
            points = events.Scalars(f"epoch/{key}")
            assert [p.step for p in points] == [1, 2]
            # TensorBoard keeps scalars as float32
            assert [p.value for p in points] == pytest.approx([e[key] for e in epochs], rel=1e-6)
        batch = events.Scalars("batch/train_loss")
        assert [p.step for p in batch] == [5, 10, 15, 22, 27, 32]  # 17 batches per epoch (540 images)
        final = events.Scalars("final/test_acc")
        assert final[-1].value == pytest.approx(epochs[-1]["test_acc"], rel=1e-6)


def test_sample_grid_and_confusion_as_images(runs):
    logdir, _ = runs
    events = accumulator(sorted(logdir.iterdir())[0])
    assert {"test/samples", "test/confusion"} <= set(events.Tags()["images"])
    for tag in ("test/samples", "test/confusion"):
        image = events.Images(tag)[-1]
        assert image.encoded_image_string.startswith(b"\x89PNG") and image.width > 400


def test_hyperparameters_with_the_final_metrics(runs):
    from tensorboard.plugins.hparams import plugin_data_pb2

    logdir, outs = runs
    for run, out, seed in zip(sorted(logdir.iterdir()), outs, (0, 1)):
        card = json.loads((out / "model.json").read_text())
        content = accumulator(run).PluginTagToContent("hparams")
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
        assert {m.name.tag for m in experiment.experiment.metric_infos} == {
            "final/train_loss", "final/train_acc", "final/test_acc"}
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        values = start.session_start_info.hparams
        assert values["seed"].number_value == seed and values["lr"].number_value == 0.1
        assert values["optimizer"].string_value == "sgd"
        assert values["version"].string_value == card["version"]


def test_test_images_in_the_projector(runs):
    logdir, outs = runs
    run = sorted(logdir.iterdir())[0]
    config = (run / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "test_logits' in config and "sprite" in config
    [folder] = [p for p in run.rglob("test_logits") if p.is_dir()]
    metadata = (folder / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "true\tpredicted" and len(metadata) == 1 + 300
    tensors = (folder / "tensors.tsv").read_text().splitlines()
    assert len(tensors) == 300 and len(tensors[0].split("\t")) == 10
    assert (folder / "sprite.png").read_bytes().startswith(b"\x89PNG")


def test_tensorboard_serves_both_runs(runs, free_port):
    logdir, _ = runs
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                               "--host", "127.0.0.1", "--port", str(free_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, found = time.monotonic() + 90, []
        while time.monotonic() < deadline and len(found) < 2:
            try:
                found = requests.get(f"http://127.0.0.1:{free_port}/data/runs", timeout=5).json()
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert sorted(found) == sorted(p.name for p in logdir.iterdir())
    finally:
        server.terminate()
        server.wait(timeout=10)
