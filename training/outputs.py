"""What a run writes into `--out` (or a model repository's version folder), and whether a model is
already there (the skip-unless---force rule)."""
from __future__ import annotations

from pathlib import Path

from inference.repository import list_versions

# The files a run writes into `--out` (docs/architecture.md); any of MODEL_FILES there means "a model exists".
ARTIFACTS = ("model.onnx", "model.pt", "explain.onnx", "model.json", "metrics.json",
             "curves.png", "confusion.png", "samples.png")
MODEL_FILES = ("model.onnx", "model.pt", "model.json")


def has_model(out: Path) -> bool:
    """Whether `out` already holds a model."""
    return any((Path(out) / name).exists() for name in MODEL_FILES)


def repository_has_model(repository: Path) -> bool:
    """Whether a repository already serves something: a version folder with a model, or a plain
    model folder (model.json at its top)."""
    return has_model(repository) or any(has_model(version.path) for version in list_versions(repository))
