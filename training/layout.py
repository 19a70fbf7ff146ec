"""Where things are: the data directory and the artifact files (no torch, so that the CLI can skip
a run whose model is already there without paying for importing torch)."""
from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS = ("model.onnx", "model.pt", "model.json", "metrics.json",
             "curves.png", "confusion.png", "samples.png")
MODEL_FILES = ("model.onnx", "model.pt", "model.json")


def default_data_dir() -> Path:
    """`$FASHION_MNIST_DIR`, else `./data`."""
    return Path(os.environ.get("FASHION_MNIST_DIR") or "data")


def has_model(out: Path) -> bool:
    """Whether `out` already holds a model (the skip-unless---force rule)."""
    return any((Path(out) / name).exists() for name in MODEL_FILES)
