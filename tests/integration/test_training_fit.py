"""The training loop on real images: determinism, scratch vs module, optimizers, devices."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.config import TrainConfig
from training.errors import DeviceError
from training.train import resolve_device
from training.data import load_dataset
from training.models import new_model
from training.scratch import ScratchSoftmaxRegression
from training.loop import ModuleLearner, fit, make_optimizer


def train(data_dir: Path, impl: str = "module", **settings) -> list[dict]:
    """Train as the CLI does, in process (no export), and return the per-epoch metrics."""
    config = TrainConfig(data_dir=data_dir, progress=False, **settings)
    data = load_dataset(data_dir, download=False)
    torch.manual_seed(config.seed)
    model = new_model(config.model)
    if impl == "scratch":
        learner = ScratchSoftmaxRegression.from_module(model, lr=config.lr)
    else:
        learner = ModuleLearner(model, make_optimizer(config.optimizer, model, config.lr))
    return fit(learner, data, config)


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]


def test_same_seed_gives_identical_metrics(fmnist_dir):
    first = train(fmnist_dir, epochs=3, batch_size=32, seed=7)
    again = train(fmnist_dir, epochs=3, batch_size=32, seed=7)
    other = train(fmnist_dir, epochs=3, batch_size=32, seed=8)
    assert without_time(first) == without_time(again)
    assert without_time(first) != without_time(other)


def test_scratch_accuracy_is_within_002_of_module(fmnist_dir):
    settings = dict(epochs=10, batch_size=32, seed=0)
    module = train(fmnist_dir, "module", **settings)[-1]["test_acc"]
    scratch = train(fmnist_dir, "scratch", **settings)[-1]["test_acc"]
    assert abs(module - scratch) <= 0.02
    assert scratch > 0.6


@pytest.mark.parametrize("model, optimizer, lr", [("linear", "adam", 0.001), ("mlp", "sgd", 0.1)])
def test_training_lowers_the_loss(fmnist_dir, model, optimizer, lr):
    history = train(fmnist_dir, model=model, optimizer=optimizer, lr=lr, epochs=3, batch_size=32)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_acc"] > 0.5


def test_dry_run_takes_one_batch_per_epoch(fmnist_dir):
    history = train(fmnist_dir, epochs=2, batch_size=16, dry_run=True)
    assert len(history) == 2
    # one batch of 16 images: accuracy is a multiple of 1/16
    assert all((epoch["train_acc"] * 16).is_integer() for epoch in history)


def test_device_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA"):
            resolve_device("cuda:0")
