"""From a trained model to the artifacts folder (docs/architecture.md): model.onnx (self-contained, softmax
inside, and with a validation split the temperature and the out-of-distribution score), model.pt, model.json, metrics.json and the figures, all or nothing.

The ONNX file is checked against torch before anything trusts it, and the files are moved into
`--out` only after that check passed, so a failed run never leaves a model a later run would skip on.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from importlib import metadata as dist
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inference.nets import OOD_TENSORS, serving_net
from inference.repository import next_version_number
from training.data import CLASSES, Dataset
from training.errors import ExportError
from training.outputs import ARTIFACTS
from training.gradient_graph import INPUTS as GRADIENT_INPUTS, OUTPUTS as GRADIENT_OUTPUTS, export_gradient_graph
from training.report import plot_confusion, plot_curves, plot_samples, spread_sample
from training.loop import as_float

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"
OOD_OUTPUT = "ood_score"
CHECKPOINT_FORMAT = 1
EXPLAIN_FILE = "explain.onnx"  # the logits and input gradient (training/gradient_graph.py)
MODEL_FILES = ("model.onnx", "model.pt", EXPLAIN_FILE)  # hashed in model.json
LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy")  # versions kept in model.json


def publish(repository: Path, model: nn.Module, arch: dict, impl: str, data: Dataset,
            hyperparameters: dict, epochs: list[dict]) -> tuple[Path, dict]:
    """Write the artifacts as the next version folder of a model repository: into a hidden staging
    folder first, then one rename, so a service polling the repository never sees a partial version.
    Returns the version folder and the model.json object."""
    repository = Path(repository)
    repository.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".publishing-", dir=repository))
    try:
        card = write_artifacts(staging, model, arch, impl, data, hyperparameters, epochs)
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the version from a service of another user
        while True:  # another publisher may take a number between our look and our rename
            target = repository / str(next_version_number(repository))
            try:
                os.rename(staging, target)
                return target, card
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_artifacts(out: Path, model: nn.Module, arch: dict, impl: str, data: Dataset,
                    hyperparameters: dict, epochs: list[dict]) -> dict:
    """Export, self-check and plot into a staging folder inside `out`, then move the files into
    place; returns the model.json object."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    test = data.test.to(torch.device("cpu"))
    model = model.cpu().eval()
    with torch.no_grad():
        predicted = model(as_float(test.images)).argmax(dim=1).numpy()
    metrics = {"epochs": epochs}
    trust, head = None, {}
    if data.validation is not None and len(data.validation):
        from training.trust import fit_trust

        trust = fit_trust(model, data.train.to(torch.device("cpu")), data.validation, test)
        head = {"temperature": trust.temperature, "ood": trust.ood_tensors}
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    try:
        export_onnx(model, staging / "model.onnx", **head)
        figures = check_onnx(staging / "model.onnx", model, as_float(test.images), **head)
        export_gradient_graph(model, staging / EXPLAIN_FILE, OPSET)
        explain_figures = check_gradient_graph(staging / EXPLAIN_FILE, model, as_float(test.images))
        save_checkpoint(staging / "model.pt", model, arch, list(CLASSES), hyperparameters,
                        {"test_accuracy": epochs[-1]["test_acc"], **metrics}, trust=trust)
        dataset = {"train_size": len(data.train), "test_size": len(test)}
        if data.validation is not None:
            dataset["validation_size"] = len(data.validation)
        card = model_card(staging, arch=arch, impl=impl, classes=list(CLASSES), dataset=dataset,
                          hyperparameters=hyperparameters, epochs=epochs, self_check=figures,
                          explain_check=explain_figures)
        if trust is not None:
            card.update(calibration=trust.calibration_block, ood=trust.ood_block)
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


def export_onnx(model: nn.Module, path: Path, temperature: float = 1.0, ood: dict | None = None) -> Path:
    """model (logits out) -> one ONNX file: `image` [N,1,28,28] -> `probabilities` [N,10]
    (softmax of logits / temperature), and with `ood` (the detector's tensors) `ood_score` [N]."""
    net = serving_net(model, temperature, ood).cpu().eval()
    names = [OUTPUT_NAME] if ood is None else [OUTPUT_NAME, OOD_OUTPUT]
    example = torch.zeros(2, 1, 28, 28)
    with warnings.catch_warnings():
        # torch.export's pytree emits a FutureWarning about its own internals; not ours to fix.
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net, (example,), str(path), input_names=[INPUT_NAME], output_names=names,
            opset_version=OPSET, dynamo=True, verbose=False,
            # external_data=False: the weights go inside model.onnx, no model.onnx.data beside it.
            external_data=False,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    if ood is not None:
        fuse_sums_of_squares(path)
    return Path(path)


def fuse_sums_of_squares(path: Path) -> None:
    """Rewrite torch's `(t * t).sum(axes)` (Mul, ReduceSum) in model.onnx as one ReduceSumSquare,
    with onnxscript's pattern rewriter: the detector's graph keeps 7 nodes, each of which a served
    request pays in cold caches (benchmarks/ood_eval.py --cpu)."""
    import onnx
    from onnxscript import rewriter
    from onnxscript.rewriter import pattern

    def squared_then_summed(op, t, axes, keepdims):
        return op.ReduceSum(op.Mul(t, t), axes, keepdims=keepdims)

    def sum_of_squares(op, t, axes, keepdims):
        return op.ReduceSumSquare(t, axes, keepdims=keepdims)

    rule = pattern.RewriteRule(squared_then_summed, sum_of_squares)
    onnx.save(rewriter.rewrite(onnx.load(str(path)), pattern_rewrite_rules=[rule]), str(path))


def save_checkpoint(path: Path, model: nn.Module, arch: dict, classes: list[str],
                    hyperparameters: dict, metrics: dict, trust=None) -> Path:
    """model.pt: only tensors, lists, dicts, str and numbers, so weights_only=True loads it. With
    `trust` (training/trust.py) also the temperature and the detector's tensors and threshold, so
    the torch backend computes what model.onnx does."""
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    checkpoint = {"format": CHECKPOINT_FORMAT, "arch": arch, "state_dict": state,
                  "classes": list(classes), "hyperparameters": dict(hyperparameters),
                  "metrics": dict(metrics)}
    if trust is not None:
        checkpoint["temperature"] = float(trust.temperature)
        checkpoint["ood"] = {"threshold": float(trust.threshold),
                             **{name: torch.from_numpy(trust.ood_tensors[name]) for name in OOD_TENSORS}}
    torch.save(checkpoint, path)
    return Path(path)


def check_onnx(path: Path, model: nn.Module, images: torch.Tensor, atol: float = 1e-5,
               temperature: float = 1.0, ood: dict | None = None) -> dict:
    """Raise ExportError unless onnx's checker passes and onnxruntime's probabilities on `images`
    (float [N,1,28,28]) equal torch's within `atol` with the same argmax, and with `ood` its
    ood_score equals the numpy reference (training/ood.py) within 0.01 + 1e-3 relative. Returns the figures."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        raise ExportError(f"{path}: onnx checker failed: {e}") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = images.detach().cpu().float()
    outputs = session.run(None, {INPUT_NAME: batch.numpy()})
    got = outputs[0]
    with torch.no_grad():
        want = serving_net(model, temperature).cpu().eval()(batch).numpy()
    max_diff = float(np.abs(got - want).max()) if len(want) else 0.0
    same_argmax = bool((got.argmax(axis=1) == want.argmax(axis=1)).all())
    if got.shape != want.shape or max_diff > atol or not same_argmax:
        raise ExportError(f"{path}: onnxruntime disagrees with torch on {len(want)} test images "
                          f"(max |diff| {max_diff:.2e}, allowed {atol:.0e}; "
                          f"same argmax: {same_argmax})")
    figures = {"images": len(want), "max_abs_diff": max_diff, "same_argmax": same_argmax}
    if ood is not None:
        from training.ood import score

        reference = score(batch.numpy(), ood)
        # ood_score is in SDs of the validation images' distances: float32 sums over 784 pixels
        # leave about 0.01 of that on training sets as uniform as the synthetic one; a wrong graph
        # is off by whole units.
        diff = float((np.abs(outputs[1] - reference) / (10 + np.abs(reference))).max()) if len(want) else 0.0
        if len(outputs) != 2 or outputs[1].shape != reference.shape or diff > 1e-3:
            raise ExportError(f"{path}: onnxruntime's {OOD_OUTPUT} disagrees with the reference on "
                              f"{len(want)} test images (max |diff| / (10 + |score|) {diff:.2e}, allowed 1e-3)")
        figures["ood_max_rel_diff"] = diff
    return figures


def check_gradient_graph(path: Path, model: nn.Module, images: torch.Tensor, count: int = 64,
                         atol: float = 1e-4) -> dict:
    """Raise ExportError unless explain.onnx's logits and gradients on the first `count` images
    (each for its own class, in turn) equal torch's logits and autograd's within `atol`."""
    import onnxruntime as ort

    batch = images[:count].detach().cpu().float()
    model = model.cpu().eval()
    with torch.no_grad():
        classes = model(batch[:1]).shape[1]
    cotangent = torch.zeros(len(batch), classes)
    cotangent[torch.arange(len(batch)), torch.arange(len(batch)) % classes] = 1.0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, gradient = session.run(list(GRADIENT_OUTPUTS), dict(zip(GRADIENT_INPUTS,
                                                                     (batch.numpy(), cotangent.numpy()))))
    wanted_input = batch.clone().requires_grad_(True)
    wanted_logits = model(wanted_input)
    (wanted_gradient,) = torch.autograd.grad((wanted_logits * cotangent).sum(), wanted_input)
    figures = {"images": len(batch),
               "logits_max_abs_diff": float(np.abs(logits - wanted_logits.detach().numpy()).max()),
               "gradient_max_abs_diff": float(np.abs(gradient - wanted_gradient.numpy()).max())}
    if figures["logits_max_abs_diff"] > atol or figures["gradient_max_abs_diff"] > atol:
        raise ExportError(f"{path}: onnxruntime's logits or gradients disagree with torch's on "
                          f"{len(batch)} test images ({figures}; allowed {atol:.0e})")
    return figures


def model_card(out: Path, *, arch: dict, impl: str, classes: list[str], dataset: dict,
               hyperparameters: dict, epochs: list[dict], self_check: dict,
               explain_check: dict) -> dict:
    """The model.json object (docs/architecture.md): what the app and a reader learn about a model without
    torch. Hashes are taken from the files already in `out`."""
    hashes = {name: sha256(out / name) for name in MODEL_FILES}
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
        # What the explainer (inference/explain.py) runs; a model.json without it: "retrain to explain".
        "explain": {"file": EXPLAIN_FILE,
                    "inputs": {GRADIENT_INPUTS[0]: [None, 1, 28, 28], GRADIENT_INPUTS[1]: [None, len(classes)]},
                    "outputs": {GRADIENT_OUTPUTS[0]: [None, len(classes)],
                                GRADIENT_OUTPUTS[1]: [None, 1, 28, 28]},
                    "check": explain_check},
        "libraries": library_versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


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


def write_json(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj, indent=2) + "\n")
    return path
