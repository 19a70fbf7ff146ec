"""model.json and metrics.json: what the app and a reader learn about a model without torch."""
from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata as dist
from pathlib import Path

from training.export import INPUT_NAME, OUTPUT_NAME

LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = dist.version(name)
        except dist.PackageNotFoundError:
            pass
    return versions


def model_card(out: Path, *, arch: dict, impl: str, classes: list[str], dataset: dict,
               hyperparameters: dict, epochs: list[dict], self_check: dict) -> dict:
    """The model.json object (DESIGN.md); hashes are taken from the files already in `out`."""
    hashes = {name: sha256(out / name) for name in ("model.onnx", "model.pt")}
    return {
        "name": "fashion-mnist",
        "version": hashes["model.onnx"][:12],
        "arch": arch,
        "impl": impl,
        "classes": list(classes),
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, 1, 28, 28],
                  "range": [0.0, 1.0]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, 10]},
        # Fashion-MNIST pixels are 0..255, a light object on a dark background, divided by 255.
        "preprocessing": {"size": [28, 28], "scale": 1 / 255, "polarity": "light-on-dark"},
        "sha256": hashes,
        "dataset": dataset,
        "hyperparameters": hyperparameters,
        "epochs": epochs,
        "test_accuracy": epochs[-1]["test_acc"] if epochs else None,
        "export_check": self_check,
        "libraries": library_versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj, indent=2) + "\n")
    return path
