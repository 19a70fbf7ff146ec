"""`python -m training`: the command line; training/train.py runs what it asks for."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.devices import parse_device
from training.architectures import ARCHS
from training.config import TrainConfig, default_data_dir
from training.errors import TrainingError
from training.train import run


def device_name(text: str) -> str:
    """auto, cpu, cuda or cuda:N (argparse type: anything else is a usage error, not a traceback)."""
    try:
        return parse_device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, cpu, cuda or cuda:N") from None


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
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of the training images held out (stratified) to fit the temperature "
                        "and the out-of-distribution detector on; 0 fits neither "
                        f"(default: {d.val_fraction})")
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
    p.add_argument("--visdom", metavar="URL", default=None,
                   help="stream curves, samples and the confusion matrix to the Visdom server at URL "
                        "(e.g. http://localhost:8097), into an environment named after the run; "
                        "an unreachable server is one warning line (default: off)")
    p.add_argument("--tensorboard", metavar="DIR", type=Path, default=None,
                   help="write TensorBoard logs into DIR/<run>: scalars, images, hparams, "
                        "embedding (default: off)")
    p.add_argument("--log-every", type=int, default=d.log_every, metavar="N",
                   help=f"send the batch loss to the monitors every N batches (default: {d.log_every})")
    a = p.parse_args(argv)
    if a.impl == "scratch" and (a.model != "linear" or a.optimizer != "sgd"):
        p.error("--impl scratch is softmax regression with SGD: use --model linear --optimizer sgd")
    if not 0 <= a.val_fraction <= 0.5:
        p.error("--val-fraction must lie in [0, 0.5]")
    if a.epochs < 1 or a.batch_size < 1 or a.log_every < 1 or a.lr <= 0:
        p.error("--epochs, --batch-size and --log-every must be >= 1 and --lr > 0")
    return TrainConfig(**{**vars(a), "data_dir": a.data_dir or default_data_dir()})


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        run(config)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
