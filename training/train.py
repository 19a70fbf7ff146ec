"""A training run from start to end: the data, the model, the loop, the artifacts.

torch and everything that needs it is imported in `train()`, after the skip check in `run()`: the
compose `train` service runs this at every `up`, and a model already there should cost no torch
import.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.architectures import ARCHS
from training.config import TrainConfig
from training.errors import DeviceError
from training.outputs import has_model, repository_has_model

if TYPE_CHECKING:
    from training.data import Dataset
    from training.loop import Learner
    from training.monitor import Monitors, RunEnd


def resolve_device(name: str):
    """auto -> cuda when torch sees a GPU, else cpu; anything else as given (checked)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: torch sees no CUDA device (use --device cpu or auto)")
    return device


def run(config: TrainConfig) -> dict | None:
    """Train and write the artifacts; None when a model is already there and not --force."""
    target = config.publish or config.out
    exists = repository_has_model(target) if config.publish else has_model(target)
    if exists and not config.force:
        print(f"model already in {target}; skipping training (use --force to "
              f"{'publish a new version' if config.publish else 'retrain'})")
        return None
    return train(config)


def train(config: TrainConfig) -> dict:
    """Load the data, train, export and check; returns the model card (model.json)."""
    import torch

    from training.data import Dataset, load_dataset, split_validation
    from training.export import publish, write_artifacts
    from training.models import new_model, parameter_count
    from training.scratch import ScratchSoftmaxRegression
    from training.loop import ModuleLearner, fit, make_optimizer
    from training.monitor import run_name

    device = resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    data = load_dataset(config.data_dir)
    validation = None
    if config.val_fraction > 0:
        rest, validation = split_validation(data.train, config.val_fraction, config.seed)
        data = Dataset(train=rest, test=data.test)
    print(f"data: {len(data.train)} train / {len(validation) if validation else 0} validation / "
          f"{len(data.test)} test images from {config.data_dir}; device {device}")
    data = Dataset(train=data.train.to(device), test=data.test.to(device), validation=validation)
    torch.manual_seed(config.seed)  # the initial weights
    model = new_model(config.model).to(device)
    if config.impl == "scratch":
        learner = ScratchSoftmaxRegression.from_module(model, lr=config.lr)
    else:
        learner = ModuleLearner(model, make_optimizer(config.optimizer, model, config.lr))
    print(f"model: {config.model} ({parameter_count(model)} parameters), impl {config.impl}, "
          f"{config.optimizer} lr {config.lr}, batch {config.batch_size}, {config.epochs} epochs")
    monitors = open_monitors(config, run_name(config))
    try:
        epochs = fit(learner, data, config, monitors or None)  # none: no batch loss read back
        trained = learner.to_module() if config.impl == "scratch" else model
        arch = {"name": config.model, "layers": ARCHS[config.model]}
        if config.publish:
            folder, card = publish(config.publish, trained, arch, config.impl, data, config.hyperparameters(), epochs)
        else:
            folder = config.out
            card = write_artifacts(folder, trained, arch, config.impl, data, config.hyperparameters(), epochs)
        print(f"wrote {folder} (version {card['version']}, test accuracy "
              f"{card['test_accuracy']:.4f}; onnx matches torch to "
              f"{card['export_check']['max_abs_diff']:.1e})")
        if "calibration" in card:
            c, o = card["calibration"], card["ood"]
            print(f"temperature {c['temperature']:.3f}: test ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}, "
                  f"NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}; ood threshold {o['threshold']:.3f}, "
                  f"AUROC {o['auroc']:.3f} against {', '.join(o['measured_against']['families'])}")
        if monitors:
            monitors.on_end(run_end(learner, data, folder, card))
    finally:
        monitors.close()
    return card


def open_monitors(config: TrainConfig, run: str) -> Monitors:
    """The dashboards the config asks for; one that cannot start is a warning line, not an error."""
    from training.monitor import Monitors, warn

    opened = {}
    if config.visdom:
        try:
            from training.monitor_visdom import VisdomMonitor

            opened["visdom"] = VisdomMonitor(config.visdom, env=f"fashion-mnist_{run}")
        except Exception as e:  # noqa: BLE001 - no dashboard problem may stop training
            warn(f"visdom at {config.visdom}", e)
    if config.tensorboard:
        try:
            from training.monitor_tensorboard import TensorBoardMonitor

            opened["tensorboard"] = TensorBoardMonitor(config.tensorboard / run)
        except Exception as e:  # noqa: BLE001
            warn(f"tensorboard in {config.tensorboard}", e)
    for name, monitor in opened.items():
        print(f"monitor: {name} {monitor.where}", flush=True)
    return Monitors(opened)


def run_end(learner: Learner, data: Dataset, folder: Path, card: dict) -> RunEnd:
    """The artifacts, the test split and the trained model's logits on it (on the CPU), for the
    dashboards."""
    from training.loop import predict_logits
    from training.monitor import RunEnd

    test = data.test
    return RunEnd(folder=Path(folder), version=card["version"], hyperparameters=card["hyperparameters"],
                  epochs=card["epochs"], classes=card["classes"],
                  images=test.images.cpu().numpy(), labels=test.labels.cpu().numpy(),
                  logits=predict_logits(learner, test).float().cpu().numpy())
