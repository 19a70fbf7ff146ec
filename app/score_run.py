"""The batch scorer's loop: batches in, predictions out as rows, counts kept for the summary.

The prediction itself is the server's: `Predictor.predict` then `Predictor.to_prediction`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from app.predictor import Predictor
from app.score_inputs import Batch


class LocalModel:
    """A `Predictor` behind the `predict(batch)` interface the remote model shares."""

    needs_pixels = True

    def __init__(self, predictor: Predictor) -> None:
        self.predictor, self.metadata = predictor, predictor.metadata
        self.classes, self.version = predictor.classes, predictor.version
        self.backend, self.device = predictor.backend, predictor.device

    def predict(self, batch: Batch) -> list[dict]:
        """A prediction or `{"error": message}` per image of the batch, in order."""
        results: list[dict] = [{"error": e} for e in batch.errors]
        ok = [i for i, error in enumerate(batch.errors) if error is None]
        if ok:
            pixels = batch.pixels if len(ok) == len(batch) else batch.pixels[ok]
            probabilities = self.predictor.predict(pixels[:, None, :, :])
            for i, row in zip(ok, probabilities):
                results[i] = self.predictor.to_prediction(row)
        return results


@dataclass
class Tally:
    """What the summary and the report need: counts, and labels next to predictions."""

    images: int = 0
    errors: int = 0
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)
    interrupted: bool = False


def score(batches: Iterable[Batch], model, write: Callable[[list[dict]], None], classes: list[str],
          advance: Callable[[int], None] = lambda n: None,
          stop: Callable[[], bool] = lambda: False) -> Tally:
    """Predict every batch, write its rows, and count; `stop()` true ends the run after a batch."""
    tally = Tally()
    for batch in batches:
        rows = []
        for source, index, label, result in zip(batch.sources, batch.indices, batch.labels,
                                                model.predict(batch)):
            known = label if label is not None and 0 <= label < len(classes) else None
            rows.append({"source": source, "index": index,
                         "true_label": None if known is None else classes[known], **result})
            if "error" in result:
                tally.errors += 1
            elif known is not None:
                tally.y_true.append(known)
                tally.y_pred.append(result["class_index"])
        write(rows)
        tally.images += len(rows)
        advance(len(rows))
        if stop():
            tally.interrupted = True
            break
    return tally
