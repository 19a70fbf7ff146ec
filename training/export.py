"""Write model.onnx (self-contained, softmax inside) and model.pt, and check the ONNX file
against torch before anything trusts it."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.errors import ExportError
from training.models import with_softmax

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"
CHECKPOINT_FORMAT = 1


def export_onnx(model: nn.Module, path: Path) -> Path:
    """model (logits out) -> one ONNX file: `image` [N,1,28,28] -> `probabilities` [N,10]."""
    net = with_softmax(model).cpu().eval()
    example = torch.zeros(2, 1, 28, 28)
    with warnings.catch_warnings():
        # torch.export's pytree emits a FutureWarning about its own internals; not ours to fix.
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            opset_version=OPSET, dynamo=True, verbose=False,
            # external_data=False: the weights go inside model.onnx, no model.onnx.data beside it.
            external_data=False,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    return Path(path)


def save_checkpoint(path: Path, model: nn.Module, arch: dict, classes: list[str],
                    hyperparameters: dict, metrics: dict) -> Path:
    """model.pt: only tensors, lists, dicts, str and numbers, so weights_only=True loads it."""
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "arch": arch, "state_dict": state,
                "classes": list(classes), "hyperparameters": dict(hyperparameters),
                "metrics": dict(metrics)}, path)
    return Path(path)


def check_onnx(path: Path, model: nn.Module, images: torch.Tensor, atol: float = 1e-5) -> dict:
    """Raise ExportError unless onnx's checker passes and onnxruntime's probabilities on `images`
    (float [N,1,28,28]) equal torch's within `atol` with the same argmax. Returns the figures."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        raise ExportError(f"{path}: onnx checker failed: {e}") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = images.detach().cpu().float()
    got = session.run([OUTPUT_NAME], {INPUT_NAME: batch.numpy()})[0]
    with torch.no_grad():
        want = with_softmax(model).cpu().eval()(batch).numpy()
    max_diff = float(np.abs(got - want).max()) if len(want) else 0.0
    same_argmax = bool((got.argmax(axis=1) == want.argmax(axis=1)).all())
    if got.shape != want.shape or max_diff > atol or not same_argmax:
        raise ExportError(f"{path}: onnxruntime disagrees with torch on {len(want)} test images "
                          f"(max |diff| {max_diff:.2e}, allowed {atol:.0e}; "
                          f"same argmax: {same_argmax})")
    return {"images": len(want), "max_abs_diff": max_diff, "same_argmax": same_argmax}
