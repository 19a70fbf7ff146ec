"""torch backend: rebuilds the network from model.pt's declarative `arch.layers` with
inference/nets.py (the builder training uses) and runs it. torch is imported only when this backend
is chosen."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from inference.errors import ModelLoadError
from inference.nets import OOD_TENSORS, build_sequential, serving_net

log = logging.getLogger(__name__)
# The slim runtime image has no torch: choosing this backend there is an operator's mistake that
# gets one clear line, like any other model that cannot be served.
NO_TORCH = ("MODEL_BACKEND=torch needs PyTorch, which is not installed in this image or "
            "environment; use MODEL_BACKEND=onnx (the default) or install torch")


def check_torch() -> None:
    """Raise ModelLoadError when torch cannot be imported, without importing it (gunicorn's master
    calls this before forking, so no worker starts only to fail)."""
    if importlib.util.find_spec("torch") is None:
        raise ModelLoadError(NO_TORCH)


def load_torch(path: Path, *, device: str = "auto",
               threads: int = 1) -> tuple[Callable[[np.ndarray], dict[str, np.ndarray]], str]:
    """Load the checkpoint onto the CUDA device when asked for and present, else the CPU. `run`
    returns what model.onnx would: `probabilities` (at the checkpoint's temperature), and
    `ood_score` when the checkpoint carries the detector."""
    try:
        import torch
    except ImportError as exc:
        if exc.name == "torch":  # torch itself is absent (the slim image)
            raise ModelLoadError(NO_TORCH) from None
        # torch is there but broken (a missing shared library or dependency): say why
        raise ModelLoadError(f"MODEL_BACKEND=torch: import torch failed: {exc}") from None

    torch.set_num_threads(threads)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        net = build_sequential(checkpoint["arch"]["layers"])
        net.load_state_dict(checkpoint["state_dict"])
        ood = checkpoint.get("ood")
        if ood is not None and not set(OOD_TENSORS) <= set(ood):
            # a checkpoint of the first detector (class PCA residual): its model.onnx still computes
            # that score, but this backend builds only the current one
            log.warning("%s: the checkpoint's out-of-distribution detector is an older kind this "
                        "backend cannot rebuild; predictions carry no out-of-distribution flag "
                        "(MODEL_BACKEND=onnx computes it)", path)
            ood = None
        net = serving_net(net, checkpoint.get("temperature", 1.0),
                          None if ood is None else {name: ood[name] for name in OOD_TENSORS})
    except ValueError as exc:  # a layer list the builder refuses
        raise ModelLoadError(f"{path}: {exc}") from None
    except Exception as exc:  # unpickling, missing keys and shape mismatches all mean a bad file
        raise ModelLoadError(f"cannot load {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    used = _device(torch, device)
    net = net.to(used).eval()

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = net(torch.from_numpy(batch).to(used))
            if ood is None:
                return {"probabilities": out.cpu().numpy()}
            return {"probabilities": out[0].cpu().numpy(), "ood_score": out[1].cpu().numpy()}

    return run, used


def _device(torch, device: str) -> str:
    if device == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        level = logging.WARNING if device.startswith("cuda") else logging.INFO
        log.log(level, "DEVICE=%s: torch sees no CUDA device; using cpu", device)
        return "cpu"
    return device if device.startswith("cuda:") else "cuda:0"
