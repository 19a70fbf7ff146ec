"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

from typing import Callable

import numpy as np
from flask import Blueprint, request

from app import metrics
from app.context import ready_predictor, settings
from app.predict_inputs import read_items
from app.return_input import attach_inputs, requested_formats
from inference.decode import decode_batch
from inference.errors import InputError
from inference.limits import Limits
from inference.predictor import Predictor

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    return answer(ready_predictor())


def answer(predictor: Predictor, add: Callable[[list[dict], np.ndarray], None] | None = None,
           checks: Callable[[], None] = lambda: None) -> dict:
    """Read, decode and predict the request's images, as /predict answers them; `checks()` runs once
    the query is read and before the body is, `add(predictions, batch)` adds to each prediction
    object (the explanation of /explain)."""
    config = settings()
    input_formats = requested_formats(request.args)  # before reading the body: a bad value fails fast
    checks()
    limits = Limits.start(config)
    items, single = read_items(request, limits)
    batch, probabilities, scores = metrics.timed_predict(
        predictor, lambda: decode_batch(items, invert=config.invert, limits=limits))

    predictions = predictor.to_predictions(probabilities, scores)
    flagged = [i for i, p in enumerate(predictions) if p["out_of_distribution"]]
    metrics.observe_trust(request.url_rule.rule, (p["confidence"] for p in predictions),
                          None if scores is None else (p["ood_score"] for p in predictions), len(flagged))
    if flagged and config.reject_out_of_distribution:
        raise InputError(422, "out_of_distribution",
                         _rejection(predictions, flagged, predictor.ood_threshold, single))
    if add is not None:
        add(predictions, batch)
    attach_inputs(predictions, batch, input_formats)
    metrics.count_predictions(p["label"] for p in predictions)
    if single:
        return {**predictions[0], "model_version": predictor.version}
    return {"predictions": predictions, "model_version": predictor.version}


def _rejection(predictions: list[dict], flagged: list[int], threshold: float, single: bool) -> str:
    """REJECT_OUT_OF_DISTRIBUTION=1: which images do not look like clothing, with their scores."""
    scores = ", ".join(f"{predictions[i]['ood_score']:.2f}" for i in flagged)
    if single:
        which = "the image does"
    else:
        which = f"image {flagged[0]} does" if len(flagged) == 1 else f"images {', '.join(map(str, flagged))} do"
    return (f"{which} not look like clothing (ood_score {scores}, above the model's threshold "
            f"{threshold:.2f}); not predicted (REJECT_OUT_OF_DISTRIBUTION=1)")
