"""`python -m training`: parse flags, load data, train, write the artifacts."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# torch and everything that needs it is imported in `train()`, after the skip check: the compose
# `train` service runs this at every `up`, and a model already there should cost no torch import.
from training.config import (ARCHS, DeviceError, TrainConfig, TrainingError, default_data_dir,
                             has_model, repository_has_model)


def device_name(text: str) -> str:
    """auto, cpu, cuda or cuda:N (argparse type: anything else is a usage error, not a traceback)."""
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", text) is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, cpu, cuda or cuda:N")
    return text


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    d = TrainConfig(data_dir=Path("data"))
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the four IDX files (default: $FASHION_MNIST_DIR, else ./data)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, default=d.out, help=f"artifacts folder (default: {d.out})")
    target.add_argument("--publish", type=Path, metavar="REPOSITORY", default=None,
                        help="write the model as the next version folder (1/, 2/, ...) of this model "
                             "repository, atomically (MODEL_REPOSITORY of the service)")
    p.add_argument("--model", choices=sorted(ARCHS), default=d.model,
                   help=f"architecture (default: {d.model})")
    p.add_argument("--impl", choices=["module", "scratch"], default=d.impl,
                   help="module: nn + autograd; scratch: explicit W, b and gradient, linear only "
                        f"(default: {d.impl})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default: {d.epochs}")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default: {d.batch_size}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default: {d.lr})")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=d.optimizer,
                   help=f"default: {d.optimizer}")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default: {d.seed}")
    p.add_argument("--device", default=d.device, type=device_name,
                   help="auto (CUDA when available), cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--dry-run", action="store_true",
                   help="one batch per epoch: a quick end-to-end check (still writes artifacts)")
    p.add_argument("--force", action="store_true",
                   help="retrain even when --out (or the --publish repository) already holds a model "
                        "(default: skip)")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch CPU threads; 0 = torch's default, one per core (default: 0)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no per-batch progress bar (the per-epoch lines stay)")
    a = p.parse_args(argv)
    if a.impl == "scratch" and (a.model != "linear" or a.optimizer != "sgd"):
        p.error("--impl scratch is softmax regression with SGD: use --model linear --optimizer sgd")
    if a.epochs < 1 or a.batch_size < 1 or a.lr <= 0:
        p.error("--epochs and --batch-size must be >= 1 and --lr > 0")
    return TrainConfig(**{**vars(a), "data_dir": a.data_dir or default_data_dir()})


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

    from training.data import Dataset, load_dataset
    from training.export import publish, write_artifacts
    from training.models import new_model, parameter_count
    from training.scratch import ScratchSoftmaxRegression
    from training.train import ModuleLearner, fit, make_optimizer

    device = resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    data = load_dataset(config.data_dir)
    print(f"data: {len(data.train)} train / {len(data.test)} test images from {config.data_dir}; "
          f"device {device}")
    data = Dataset(train=data.train.to(device), test=data.test.to(device))
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
    return card


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        run(config)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
