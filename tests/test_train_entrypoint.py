"""The compose/k8s `train` entry point: TRAIN_* variables become flags, and a model repository is
published into rather than overwritten."""
from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("train_entrypoint", ROOT / "docker" / "train_entrypoint.py")
entrypoint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entrypoint)


def test_a_repository_is_published_into():
    argv = entrypoint.training_argv({"MODEL_REPOSITORY": "/models", "TRAIN_EPOCHS": "3"}, ["--force"])
    assert argv == ["--data-dir", "/data", "--publish", "/models", "--no-progress", "--epochs", "3", "--force"]


def test_a_plain_model_dir_is_written_as_before():
    argv = entrypoint.training_argv({"MODEL_DIR": "/out", "TRAIN_FORCE": "yes"}, [])
    assert argv == ["--data-dir", "/data", "--out", "/out", "--no-progress", "--force"]


def test_dashboards_from_the_environment():
    argv = entrypoint.training_argv({"MODEL_DIR": "/out", "TRAIN_VISDOM": "http://visdom:8097",
                                     "TRAIN_TENSORBOARD": "/runs"}, [])
    assert argv[-4:] == ["--visdom", "http://visdom:8097", "--tensorboard", "/runs"]
