"""Per-pixel explanations of a prediction, with onnxruntime and numpy only (docs/explain.md).

Training writes `explain.onnx` beside model.onnx (training/gradient_graph.py): inputs `image`
[N,1,28,28] and `cotangent` [N,C], outputs `logits` [N,C] and `gradient` [N,1,28,28], the gradient
of `sum_k cotangent_k * logit_k` with respect to the image. From it:

- an affine model (the linear one: flatten, linear, dropout): the gradient of logit c is W_c
  everywhere, so `W_c * (x - baseline)` is exact, and the attributions add up to
  `logit - baseline_logit` up to float rounding;
- any other model: Integrated Gradients (Sundararajan et al. 2017) along the straight path from the
  baseline to x, with Captum's default quadrature `gausslegendre`, so the same number of steps gives
  Captum's numbers; the sum misses `logit - baseline_logit` by the quadrature error (reported as
  `convergence_delta`, as Captum names it).

The baseline is a black image (zeros): the background of Fashion-MNIST's light-on-dark images.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.errors import InputError, ModelLoadError

EXACT = "exact"
INTEGRATED_GRADIENTS = "integrated_gradients"
BASELINE = "black"
STEPS = 32  # Integrated Gradients' path points: the CNN's budget is 50 ms of CPU per image
_AFFINE_KINDS = {"flatten", "linear", "dropout"}
_ROWS_PER_RUN = 256  # path points per onnxruntime run: bounds the activations' memory


class ExplainUnavailable(InputError):
    """The served model cannot give what was asked: its artifacts predate explain.onnx, or it has
    no templates (not linear). A 422, never a 500."""

    def __init__(self, message: str) -> None:
        super().__init__(422, "explain_unavailable", message)


RETRAIN = ("this model's artifacts have no explain.onnx (trained before explanations existed); "
           "retrain to explain")


@dataclass
class Explanation:
    """One image's attributions for one class, as the API answers it (`as_dict`)."""

    class_name: str
    class_index: int
    method: str
    attributions: np.ndarray  # float64 [28, 28]
    logit: float
    baseline_logit: float
    steps: int | None

    @property
    def convergence_delta(self) -> float:
        """sum(attributions) - (logit - baseline_logit): 0 up to rounding for the exact method."""
        return float(self.attributions.sum()) - (self.logit - self.baseline_logit)

    def as_dict(self) -> dict:
        return {"class": self.class_name, "class_index": self.class_index, "method": self.method,
                "steps": self.steps, "baseline": BASELINE, "attributions": self.attributions.tolist(),
                "logit": self.logit, "baseline_logit": self.baseline_logit,
                "convergence_delta": self.convergence_delta}


class Explainer:
    """explain.onnx loaded: attributions for a batch, and the linear model's templates."""

    def __init__(self, session, classes: list[str], affine: bool, steps: int = STEPS) -> None:
        self._session = session
        self.classes = classes
        self.affine = affine
        self.steps = steps
        self.method = EXACT if affine else INTEGRATED_GRADIENTS

    @classmethod
    def load(cls, model_dir: str | Path, metadata: dict, *, device: str = "cpu",
             threads: int = 1) -> "Explainer | None":
        """The explainer of a model folder, or None when model.json has no `explain` section."""
        from inference.onnx_backend import open_session

        section = metadata.get("explain")
        if not isinstance(section, dict):
            return None
        path = Path(model_dir) / section.get("file", "explain.onnx")
        session, _ = open_session(path, device=device, threads=threads)
        names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        if names != (["image", "cotangent"], ["logits", "gradient"]):
            raise ModelLoadError(f"{path}: expected inputs image, cotangent and outputs logits, gradient; "
                                 f"got {names}")
        return cls(session, metadata["classes"], is_affine(metadata.get("arch", {}).get("layers")))

    def _run(self, images: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits [N,C] and the gradient of each row's target logit [N,1,28,28]."""
        cotangent = np.zeros((len(images), len(self.classes)), np.float32)
        cotangent[np.arange(len(images)), targets] = 1.0
        logits, gradient = self._session.run(["logits", "gradient"], {
            "image": np.ascontiguousarray(images, np.float32), "cotangent": cotangent})
        return logits, gradient

    def explain(self, batch: np.ndarray, targets: list[int]) -> list[Explanation]:
        """One explanation per image of the batch float32 [N,1,28,28], for its class in `targets`."""
        baseline = np.zeros(batch.shape[1:], np.float32)
        if self.affine:
            alphas, weights = np.ones(1, np.float32), np.ones(1)  # the gradient is the same everywhere
        else:
            alphas, weights = quadrature(self.steps)
        rows = len(alphas) + 2  # the path points, then the input and the baseline for their logits
        per_run = max(1, _ROWS_PER_RUN // rows)
        explanations = []
        for start in range(0, len(batch), per_run):
            images = batch[start:start + per_run]
            chunk_targets = np.asarray(targets[start:start + per_run])
            path = baseline + alphas[None, :, None, None, None] * (images[:, None] - baseline)
            points = np.concatenate([path, images[:, None], np.broadcast_to(baseline, images[:, None].shape)],
                                    axis=1).reshape(-1, *batch.shape[1:])
            logits, gradient = self._run(points, np.repeat(chunk_targets, rows))
            logits = logits.reshape(len(images), rows, -1)
            gradient = gradient.reshape(len(images), rows, *batch.shape[1:])
            for image, target, image_logits, image_gradient in zip(images, chunk_targets, logits, gradient):
                mean_gradient = np.tensordot(weights, image_gradient[:-2].astype(np.float64), axes=1)
                attributions = mean_gradient * (image.astype(np.float64) - baseline)
                explanations.append(Explanation(
                    class_name=self.classes[int(target)], class_index=int(target), method=self.method,
                    attributions=attributions[0], logit=float(image_logits[-2, target]),
                    baseline_logit=float(image_logits[-1, target]),
                    steps=None if self.affine else self.steps))
        return explanations

    def templates(self) -> tuple[np.ndarray, np.ndarray]:
        """The linear model's weights as ten 28x28 templates [C,28,28] and its biases [C]: the
        gradient of logit c is W_c, and the logits of a black image are the biases."""
        if not self.affine:
            raise ExplainUnavailable("templates are the weights of the linear model; this model is not "
                                     "linear (its explanations are Integrated Gradients)")
        count = len(self.classes)
        logits, gradient = self._run(np.zeros((count, 1, 28, 28), np.float32), np.arange(count))
        return gradient[:, 0].astype(np.float64), logits[0].astype(np.float64)


@functools.lru_cache(maxsize=16)
def quadrature(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Captum's `gausslegendre` rule on [0, 1]: alphas float32 [steps], weights float64 [steps]
    (summing to 1). Cached: leggauss(64) alone costs about 7 ms."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (0.5 * (1.0 + nodes)).astype(np.float32), 0.5 * weights


def is_affine(layers) -> bool:
    """Whether model.json's `arch.layers` make an affine map (no ReLU, convolution or pooling)."""
    return isinstance(layers, list) and bool(layers) and all(
        isinstance(entry, list) and entry and entry[0] in _AFFINE_KINDS for entry in layers)


def resolve_class(value: str, classes: list[str]) -> int:
    """`?class=` as an index ("3") or a label ("Dress", case ignored); 400 for anything else."""
    text = value.strip()
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    folded = [name.casefold() for name in classes]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    raise InputError(400, "invalid_parameter",
                     f"class must be an index 0..{len(classes) - 1} or one of {classes}; got {value!r}")
