"""A training run from start to end: the data, the model, the loop, the artifacts.

torch and everything that needs it is imported in `train()`, after the skip check in `run()`: the
compose `train` service runs this at every `up`, and a model already there should cost no torch
import.
"""
from __future__ import annotations

from training.architectures import ARCHS
from training.config import TrainConfig
from training.errors import DeviceError
from training.outputs import has_model, repository_has_model


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
    epochs = fit(learner, data, config)
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
    return card
