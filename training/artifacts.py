"""Write the seven artifact files into `--out`, all or nothing.

Files are written into a staging folder inside `--out` and moved into place only after the ONNX
self-check passed, so a failed run never leaves a model that a later run would skip on.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from training.classes import CLASSES
from training.data import Dataset
from training.layout import ARTIFACTS, has_model  # noqa: F401  (has_model re-exported)
from training.export import check_onnx, export_onnx, save_checkpoint
from training.metadata import model_card, write_json
from training.report import plot_confusion, plot_curves, plot_samples, spread_sample
from training.train import as_float



def write_artifacts(out: Path, model: nn.Module, arch: dict, impl: str, data: Dataset,
                    hyperparameters: dict, epochs: list[dict]) -> dict:
    """Export, self-check and plot; returns the model.json object."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    test = data.test.to(torch.device("cpu"))
    model = model.cpu().eval()
    with torch.no_grad():
        predicted = model(as_float(test.images)).argmax(dim=1).numpy()
    metrics = {"epochs": epochs}
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    try:
        export_onnx(model, staging / "model.onnx")
        figures = check_onnx(staging / "model.onnx", model, as_float(test.images))
        save_checkpoint(staging / "model.pt", model, arch, list(CLASSES), hyperparameters,
                        {"test_accuracy": epochs[-1]["test_acc"], **metrics})
        card = model_card(staging, arch=arch, impl=impl, classes=list(CLASSES),
                          dataset={"train_size": len(data.train), "test_size": len(test)},
                          hyperparameters=hyperparameters, epochs=epochs, self_check=figures)
        write_json(staging / "metrics.json", metrics)
        labels, images = test.labels.numpy(), test.images.numpy()
        plot_curves(staging / "curves.png", epochs)
        plot_confusion(staging / "confusion.png", labels, predicted, list(CLASSES))
        shown = spread_sample(labels, 18)
        plot_samples(staging / "samples.png", images[shown], labels[shown], predicted[shown],
                     list(CLASSES))
        # model.json last: its presence means a complete, checked model.
        write_json(staging / "model.json", card)
        for name in ARTIFACTS:
            (staging / name).replace(out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card
