"""onnxruntime backend: the default, and the only one the slim serving image has."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from inference.errors import ModelLoadError

log = logging.getLogger(__name__)


OOD_OUTPUT = "ood_score"  # present in models trained with a validation split


def load_onnx(path: Path, *, device: str = "auto",
              threads: int = 1) -> tuple[Callable[[np.ndarray], dict[str, np.ndarray]], str]:
    """An inference session on the CUDA provider when asked for and present, else the CPU. `run`
    returns the outputs by name: `probabilities`, and `ood_score` when the graph has it."""
    session, used = open_session(path, device=device, threads=threads)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != ["image"] or "probabilities" not in [o.name for o in outputs]:
        raise ModelLoadError(f"{path}: expected input 'image' and output 'probabilities'")

    names = ["probabilities"] + [OOD_OUTPUT] * any(o.name == OOD_OUTPUT for o in outputs)

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {"image": batch})))

    return run, used


def open_session(path: Path, *, device: str = "auto", threads: int = 1):
    """(onnxruntime session, the device it runs on); ModelLoadError naming the file when it
    cannot load."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers, used = _providers(ort.get_available_providers(), device)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise ModelLoadError(f"cannot load {path}: {str(exc).splitlines()[0]}") from None
    if used != "cpu" and session.get_providers()[0] != "CUDAExecutionProvider":
        log.warning("onnxruntime could not start CUDA for %s; using cpu", used)
        used = "cpu"
    return session, used


def _providers(available: list[str], device: str) -> tuple[list[str], str]:
    """Execution providers for the DEVICE setting, and the device name they stand for."""
    if device == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    if "CUDAExecutionProvider" not in available:
        # Expected with DEVICE=auto on a CPU machine; a warning when CUDA was asked for by name.
        level = logging.WARNING if device.startswith("cuda") else logging.INFO
        log.log(level, "DEVICE=%s: onnxruntime has no CUDA provider; using cpu", device)
        return ["CPUExecutionProvider"], "cpu"
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], f"cuda:{index}"
