"""Live monitoring of a training run: the loop calls `on_batch`, `on_epoch` and `on_end` on one
`Monitors`, which hands each call to the dashboards the run asked for (training/monitor_visdom.py,
training/monitor_tensorboard.py; train.py opens them).

Monitoring never fails a run: a dashboard that cannot be opened, or that raises later, costs one
warning line on stderr and is dropped; training and the artifacts go on as without it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

if TYPE_CHECKING:
    from training.config import TrainConfig

# The metrics.json fields a dashboard plots per epoch (the others are the epoch and its seconds).
EPOCH_METRICS = ("train_loss", "train_acc", "test_acc")


class Monitor(Protocol):
    """A dashboard: what the loop tells it, as it happens."""

    where: str  # printed once when it opens: the server and environment, or the log folder

    def on_batch(self, step: int, epoch: float, loss: float) -> None: ...  # step: batches so far

    def on_epoch(self, metrics: dict) -> None: ...  # one metrics.json row

    def on_end(self, end: RunEnd) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunEnd:
    """What a finished run shows: its model version and settings, its artifacts folder (the
    figures), and the test split with the model's logits (numpy, on the CPU)."""

    folder: Path
    version: str
    hyperparameters: dict
    epochs: list[dict]
    classes: list[str]
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int [N]
    logits: np.ndarray  # float32 [N, classes]

    @cached_property
    def predicted(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @cached_property
    def confusion(self) -> np.ndarray:
        """counts[true, predicted]."""
        from inference.confusion import confusion_matrix

        return confusion_matrix(self.labels, self.predicted, len(self.classes))

    @cached_property
    def samples_image(self) -> np.ndarray:
        """samples.png, the grid of test images titled true / predicted (the seeds' predict_ch3)."""
        return picture(self.folder / "samples.png")

    @cached_property
    def confusion_image(self) -> np.ndarray:
        """confusion.png."""
        return picture(self.folder / "confusion.png")


def picture(path: Path) -> np.ndarray:
    """A PNG as RGB uint8 [H, W, 3]: the dashboards show the artifacts' own figures."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def run_name(config: TrainConfig, started: datetime | None = None) -> str:
    """The run's name in every dashboard: model, implementation and start time (UTC), with -2, -3
    ... when --tensorboard DIR already has a run of that name (two runs started in one second).
    The model's version exists only once the ONNX file does; the dashboards show it at the end."""
    started = started or datetime.now(timezone.utc)
    name = base = f"{config.model}-{config.impl}-{started:%Y%m%d-%H%M%S}"
    number = 1
    while config.tensorboard is not None and (Path(config.tensorboard) / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def warn(what: str, error: BaseException) -> None:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"warning: {what}: {message}; training goes on without it", file=sys.stderr, flush=True)


class Monitors:
    """Every dashboard of a run behind one Monitor; one that raises is warned about and dropped."""

    def __init__(self, monitors: dict[str, Monitor]) -> None:
        self.monitors = dict(monitors)

    def __bool__(self) -> bool:
        return bool(self.monitors)

    def _each(self, call: Callable[[Monitor], None], closing: bool = False) -> None:
        for name, monitor in list(self.monitors.items()):
            try:
                call(monitor)
            except Exception as e:  # noqa: BLE001 - no dashboard problem may stop training
                warn(name, e)
                del self.monitors[name]
                if not closing:
                    try:
                        monitor.close()
                    except Exception:  # noqa: BLE001 - already warned about this one
                        pass

    def on_batch(self, step: int, epoch: float, loss: float) -> None:
        self._each(lambda m: m.on_batch(step, epoch, loss))

    def on_epoch(self, metrics: dict) -> None:
        self._each(lambda m: m.on_epoch(metrics))

    def on_end(self, end: RunEnd) -> None:
        self._each(lambda m: m.on_end(end))

    def close(self) -> None:
        self._each(lambda m: m.close(), closing=True)
        self.monitors.clear()
