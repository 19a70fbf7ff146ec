"""What a training run is, without torch: its settings, the class names, the architectures, where
the data and the artifacts live, and the errors the CLI reports.

Nothing here imports torch, so that `python -m training` can skip a run whose model is already in
`--out` without paying for the torch import (the compose `train` service runs it at every `up`).
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

# Class names in index order: the one source of truth, written into model.json for the app.
CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

Layers = list[list]

# The three architectures as declarative layer lists `[kind, *args]`: the checkpoint contract
# (DESIGN.md, model.pt). `models` builds them; `app`'s torch backend rebuilds the same
# `nn.Sequential` from the list stored in model.pt.
ARCHS: dict[str, Layers] = {
    # The seeds' softmax regression: one affine map from 784 pixels to 10 logits.
    "linear": [["flatten"], ["linear", 784, 10]],
    # The seeds' MLP: one hidden layer of 256 ReLU units.
    "mlp": [["flatten"], ["linear", 784, 256], ["relu"], ["linear", 256, 10]],
    # A small LeNet-like net: two conv/pool stages (28 -> 14 -> 7), then a linear head.
    "cnn": [
        ["conv2d", 1, 16, 3, 1], ["relu"], ["maxpool2d", 2],
        ["conv2d", 16, 32, 3, 1], ["relu"], ["maxpool2d", 2],
        ["flatten"], ["linear", 32 * 7 * 7, 10],
    ],
}

# The files a run writes into `--out` (DESIGN.md); any of MODEL_FILES there means "a model exists".
ARTIFACTS = ("model.onnx", "model.pt", "model.json", "metrics.json",
             "curves.png", "confusion.png", "samples.png")
MODEL_FILES = ("model.onnx", "model.pt", "model.json")


@dataclass
class TrainConfig:
    """The training run's settings, one typed record: the CLI fills it, the checkpoint stores it."""

    data_dir: Path
    out: Path = Path("artifacts")
    # A model repository (MODEL_REPOSITORY): the run is written as its next version folder instead.
    publish: Path | None = None
    model: str = "linear"  # linear | mlp | cnn
    impl: str = "module"  # module (nn + autograd) | scratch (explicit W, b and gradient)
    # The seeds' defaults: 10 epochs of SGD, lr 0.1, minibatches of 256.
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    optimizer: str = "sgd"  # sgd | adam
    seed: int = 0
    device: str = "auto"  # auto picks CUDA when torch sees one
    # One batch per epoch: exercises every stage (training, export, self-check, plots) in seconds.
    dry_run: bool = False
    force: bool = False  # retrain even when --out already holds a model
    # torch intra-op threads on CPU; 0 keeps torch's default (one per core). On a shared CPU the
    # extra threads spin-wait for each other and a small model trains fastest with 1.
    threads: int = 0
    progress: bool = True  # tqdm bar per epoch; the benchmark turns it off
    # Evaluation batches are large: no gradients are kept, so memory is not the limit.
    eval_batch_size: int = 4096

    def hyperparameters(self) -> dict:
        """What shaped the weights (written into model.pt and model.json)."""
        keep = ("model", "impl", "epochs", "batch_size", "lr", "optimizer", "seed", "dry_run")
        return {key: value for key, value in asdict(self).items() if key in keep}


def default_data_dir() -> Path:
    """`$FASHION_MNIST_DIR`, else `./data`."""
    return Path(os.environ.get("FASHION_MNIST_DIR") or "data")


def has_model(out: Path) -> bool:
    """Whether `out` already holds a model (the skip-unless---force rule)."""
    return any((Path(out) / name).exists() for name in MODEL_FILES)


# A model repository's version folders are named 1, 2, ... (the layout the app reads, DESIGN.md);
# anything else in it (a publisher's hidden staging folder included) is not a version.
_VERSION_NAME = re.compile(r"[1-9][0-9]{0,17}")


def version_numbers(repository: Path) -> list[int]:
    """The version folders of a model repository, in ascending order."""
    try:
        names = os.listdir(repository)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if _VERSION_NAME.fullmatch(n) and (Path(repository) / n).is_dir())


def repository_has_model(repository: Path) -> bool:
    """Whether a repository already serves something: a version folder with a model, or a plain
    model folder (model.json at its top)."""
    return has_model(repository) or any(has_model(Path(repository) / str(n)) for n in version_numbers(repository))


class TrainingError(Exception):
    """A problem the user can fix: the CLI prints the message as one `error: ...` line and exits
    non-zero, no traceback."""


class DataError(TrainingError):
    """A data file is missing, truncated or not what was expected; the message names it."""


class ExportError(TrainingError):
    """The exported ONNX model is invalid or disagrees with the torch model."""


class DeviceError(TrainingError):
    """The requested device is not available."""
