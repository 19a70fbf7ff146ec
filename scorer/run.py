"""The batch scorer's loop: batches in, rows out to the writer in input order, counts kept for the
summary and the report.

The prediction itself is the server's: `Predictor.predict` then `Predictor.to_predictions`.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from inference.predictor import Predictor
from scorer.sources import Batch
from scorer.row_writer import RowWriter


class LocalModel:
    """A `Predictor` behind the `infer(batch)` / `results(batch, inferred)` interface the remote
    model shares."""

    needs_pixels = True

    def __init__(self, predictor: Predictor) -> None:
        self.predictor, self.metadata = predictor, predictor.metadata
        self.classes, self.version = predictor.classes, predictor.version
        self.backend, self.device = predictor.backend, predictor.device

    def infer(self, batch: Batch) -> tuple[list[int], np.ndarray | None, np.ndarray | None]:
        """Probabilities and ood scores (None for a model without the detector) of the images that
        have pixels (the model run: it releases the GIL)."""
        ok = batch.ok()
        if not ok:
            return ok, None, None
        pixels = batch.pixels if len(ok) == len(batch) else batch.pixels[ok]
        return ok, *self.predictor.infer(pixels[:, None, :, :])

    def results(self, batch: Batch, inferred: tuple) -> list[dict]:
        """A prediction object (the server's `to_predictions`) or `{"error": message}` per image."""
        ok, probabilities, scores = inferred
        return batch.results(ok, self.predictor.to_predictions(probabilities, scores) if ok else [])


class ExplainingModel(LocalModel):
    """A local model that also explains each image's predicted class (`--explain`): `infer` adds
    the attributions [ok, 28, 28], `attributions` gives one row per image of the batch."""

    def infer(self, batch: Batch) -> tuple:
        """(ok, probabilities, ood scores, attributions)."""
        ok, probabilities, scores = super().infer(batch)
        if not ok:
            return ok, probabilities, scores, None
        pixels = batch.pixels if len(ok) == len(batch) else batch.pixels[ok]
        explained = self.predictor.explain(pixels[:, None, :, :], probabilities.argmax(axis=1).tolist())
        return ok, probabilities, scores, np.stack([e.attributions for e in explained]).astype(np.float32)

    def results(self, batch: Batch, inferred) -> list[dict]:
        return super().results(batch, inferred[:3])

    def attributions(self, batch: Batch, inferred) -> np.ndarray:
        """float32 [len(batch), 28, 28]: NaN for an image that has no pixels (an error row)."""
        ok, _, _, explained = inferred
        rows = np.full((len(batch), 28, 28), np.nan, np.float32)
        if ok:
            rows[ok] = explained
        return rows


@dataclass
class Counts:
    """Images, error rows, and the true and predicted class of each labelled row."""

    images: int = 0
    errors: int = 0
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)

    def add(self, other: "Counts") -> None:
        """Count `other`'s rows after these."""
        self.images += other.images
        self.errors += other.errors
        self.y_true += other.y_true
        self.y_pred += other.y_pred


@dataclass
class Scored(Counts):
    """A batch turned into output text (or the Parquet writer's cells: a list, joined alike), with its
    counts (small to send back from a worker process)."""

    text: str | list = ""
    attributions: np.ndarray | None = None  # with --explain: [images, 28, 28]

    def extend(self, other: "Scored") -> "Scored":
        """This batch followed by `other` (the parts of one batch, in order)."""
        self.add(other)
        self.text += other.text
        if self.attributions is not None:
            self.attributions = np.concatenate([self.attributions, other.attributions])
        return self


def finish(batch: Batch, model, inferred, format: Callable[[list[dict]], str]) -> Scored:
    """The batch's rows (source, true label, then `model.results`: a prediction or an error, then
    the model version) as text, and its counts. Runs in the main process's writer thread or in a
    worker process."""
    classes = model.classes
    scored = Scored(images=len(batch))
    rows = []
    for source, index, label, result in zip(batch.sources, batch.indices, batch.labels,
                                            model.results(batch, inferred)):
        known = label if label is not None and 0 <= label < len(classes) else None
        row = {"source": source, "index": index, "true_label": None if known is None else classes[known],
               **result}
        row.setdefault("model_version", model.version)  # the service's answer may name its own
        rows.append(row)
        if "error" in result:
            scored.errors += 1
        elif known is not None:
            scored.y_true.append(known)
            scored.y_pred.append(result["class_index"])
    scored.text = format(rows)
    attributions = getattr(model, "attributions", None)
    if attributions is not None:
        scored.attributions = attributions(batch, inferred)
    return scored


@dataclass
class Tally(Counts):
    """What the summary and the report need: the run's counts, and whether Ctrl-C ended it."""

    interrupted: bool = False


def score(items: Iterable[Batch | Scored], model, writer: RowWriter,
          advance: Callable[[int], None] = lambda n: None,
          stop: Callable[[], bool] = lambda: False,
          explained: Callable[[np.ndarray], None] | None = None) -> Tally:
    """Write every batch's rows and count; `stop()` true ends the run after a batch; with
    `explained`, each batch's attributions go to it, in the rows' order.

    An item is a batch to predict here, or one a worker process already scored (`Scored`). The
    model runs batch k+1 while a writer thread turns batch k into rows and writes them:
    onnxruntime releases the GIL, so on two CPUs formatting costs almost no extra time. One
    writer thread keeps the rows in input order.
    """
    tally = Tally()

    def emit(item: Batch | Scored, inferred) -> None:
        scored = item if isinstance(item, Scored) else finish(item, model, inferred, writer.format)
        writer.emit(scored.text)
        if explained is not None:
            explained(scored.attributions)
        tally.add(scored)
        advance(scored.images)

    with ThreadPoolExecutor(1, thread_name_prefix="score-writer") as thread:
        pending: Future | None = None
        for item in items:
            inferred = None if isinstance(item, Scored) else model.infer(item)
            if pending is not None:
                pending.result()  # one batch in flight: order kept, a write error surfaces here
            pending = thread.submit(emit, item, inferred)
            if stop():
                tally.interrupted = True
                break
        if pending is not None:
            pending.result()
    return tally
