"""Load a model folder (the training artifacts) and turn image batches into class probabilities.

The one code path for a prediction: the HTTP routes and the batch scorer both call `Predictor`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from inference.errors import ModelLoadError
from inference.explain import RETRAIN, ExplainUnavailable, Explainer, Explanation

log = logging.getLogger(__name__)
BACKENDS = ("onnx", "torch")
_FILES = {"onnx": "model.onnx", "torch": "model.pt"}


@dataclass
class Predictor:
    """A loaded model: `predict` maps float32 [N, 1, 28, 28] in [0, 1] to probabilities [N, 10];
    `infer` also gives the out-of-distribution scores [N] (None for a model without the detector)."""

    run: Callable[[np.ndarray], dict[str, np.ndarray]] = field(repr=False)
    metadata: dict = field(repr=False)
    backend: str
    device: str
    number: int = 1  # the repository's version folder it came from (1 for a plain model folder)
    # explain.onnx loaded, or None for artifacts older than it (their /explain answers 422)
    explainer: Explainer | None = field(default=None, repr=False)
    # model.json's `ood.threshold` when the model also computes `ood_score`: a score above it is
    # out of distribution. None for a model trained before the detector.
    ood_threshold: float | None = None

    @classmethod
    def load(cls, model_dir: str | Path, backend: str = "onnx", device: str = "auto",
             threads: int = 1, number: int = 1) -> "Predictor":
        """Read model.json and the backend's model file; raise ModelLoadError naming a bad file."""
        metadata = cls.check_files(model_dir, backend)
        model_path = Path(model_dir) / _FILES[backend]
        if backend == "onnx":
            from inference.onnx_backend import load_onnx as load_backend
        else:  # torch is optional in the serving image: imported only when asked for
            from inference.torch_backend import load_torch as load_backend
        run, used_device = load_backend(model_path, device=device, threads=threads)
        # The explainer runs with onnxruntime whatever the backend, on the device onnxruntime has.
        explainer = Explainer.load(model_dir, metadata, device=device, threads=threads)
        log.info("loaded %s (version %s) with backend %s on %s%s", model_path, metadata["version"],
                 backend, used_device, "" if explainer else "; no explain.onnx: /explain answers 422")
        block = metadata.get("ood")
        threshold = block.get("threshold") if isinstance(block, dict) else None
        if threshold is not None and "ood_score" not in run(np.zeros((1, 1, 28, 28), np.float32)):
            log.warning("%s: model.json has an ood block but the model computes no ood_score; "
                        "predictions carry no out-of-distribution flag", model_path)
            threshold = None
        return cls(run=run, metadata=metadata, backend=backend, device=used_device, number=number,
                   explainer=explainer, ood_threshold=None if threshold is None else float(threshold))

    @staticmethod
    def check_files(model_dir: str | Path, backend: str = "onnx") -> dict:
        """model.json and the backend's file exist and agree (sha256), without starting a runtime:
        gunicorn's master runs this before forking. Returns the metadata."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        metadata = _read_metadata(Path(model_dir) / "model.json")
        _check_sha256(Path(model_dir) / _FILES[backend], metadata)
        explain = metadata.get("explain")
        if isinstance(explain, dict):
            _check_sha256(Path(model_dir) / explain.get("file", "explain.onnx"), metadata)
        if backend == "torch":
            from inference.torch_backend import check_torch

            check_torch()
        return metadata

    @property
    def classes(self) -> list[str]:
        return self.metadata["classes"]

    @property
    def version(self) -> str:
        return self.metadata["version"]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities float32 [N, 10] for a float32 batch [N, 1, 28, 28]."""
        return self.infer(batch)[0]

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities [N, 10], ood_score [N] or None when the model has no detector)."""
        outputs = self.run(np.ascontiguousarray(batch, dtype=np.float32))
        scores = outputs.get("ood_score") if self.ood_threshold is not None else None
        return outputs["probabilities"], scores

    def out_of_distribution(self, scores: list[float]) -> list[bool]:
        """Which ood scores (Python floats, as `tolist()` gives them: float32 scores compared in
        float64) lie above the model's threshold: the one rule for the flag. Plain Python, as the
        prediction objects need it: numpy's conversions cost more than the comparison in a request."""
        threshold = self.ood_threshold
        return [score > threshold for score in scores]

    def explain(self, batch: np.ndarray, targets: list[int]) -> list[Explanation]:
        """Attributions for each image of the batch [N, 1, 28, 28] and its class in `targets`;
        ExplainUnavailable (a 422) for artifacts without explain.onnx."""
        return self.require_explainer().explain(np.ascontiguousarray(batch, dtype=np.float32), targets)

    def require_explainer(self) -> Explainer:
        if self.explainer is None:
            raise ExplainUnavailable(RETRAIN)
        return self.explainer

    def warm_up(self) -> None:
        """Run one prediction (and explanation) on a blank image, so the first client does not pay
        for lazy setup and a model that loads but cannot predict fails here, not on a request."""
        blank = np.zeros((1, 1, 28, 28), dtype=np.float32)
        probs = self.predict(blank)
        if probs.shape != (1, len(self.classes)) or not np.isfinite(probs).all():
            raise ModelLoadError(f"{_FILES[self.backend]}: warm-up prediction gave shape "
                                 f"{list(probs.shape)}, expected [1, {len(self.classes)}] finite values")
        if self.explainer is not None:
            try:
                (explained,) = self.explainer.explain(blank, [0])
            except Exception as exc:  # onnxruntime's own errors for a graph that cannot run
                raise ModelLoadError(f"explain.onnx: warm-up explanation failed: {exc}") from None
            if not np.isfinite(explained.attributions).all():
                raise ModelLoadError("explain.onnx: warm-up explanation gave values that are not finite")

    def to_predictions(self, probs: np.ndarray, ood_scores: np.ndarray | None = None) -> list[dict]:
        """The prediction objects `{"label", "class_index", "confidence", "probabilities",
        "ood_score", "out_of_distribution"}` for a batch of probabilities [N, classes] and its
        ood scores, converted to plain floats in one call for the batch. Without scores (a model
        trained before the detector) the last two are None."""
        classes = self.classes
        if ood_scores is None:
            scores = flags = [None] * len(probs)
        else:
            scores = ood_scores.tolist()
            flags = self.out_of_distribution(scores)
        predictions = []
        for values, score, flag in zip(np.asarray(probs).tolist(), scores, flags):  # float32 -> Python floats
            index = values.index(max(values))  # the first of equal maxima, as np.argmax
            predictions.append({"label": classes[index], "class_index": index, "confidence": values[index],
                                "probabilities": dict(zip(classes, values)), "ood_score": score,
                                "out_of_distribution": flag})
        return predictions


def _read_metadata(path: Path) -> dict:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    classes = metadata.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ModelLoadError(f"{path}: 'classes' must be a list of class names")
    if not isinstance(metadata.get("version"), str):
        raise ModelLoadError(f"{path}: 'version' must be a string")
    return metadata


def _check_sha256(path: Path, metadata: dict) -> None:
    """A truncated or swapped model file fails here with its name, not later with a cryptic error."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    expected = metadata.get("sha256", {}).get(path.name)
    if expected is None:
        return
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ModelLoadError(f"{path}: sha256 {actual[:12]} does not match model.json ({expected[:12]})")
