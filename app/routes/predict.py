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
    batch, probabilities = metrics.timed_predict(
        predictor, lambda: decode_batch(items, invert=config.invert, limits=limits))

    predictions = predictor.to_predictions(probabilities)
    if add is not None:
        add(predictions, batch)
    attach_inputs(predictions, batch, input_formats)
    metrics.count_predictions(p["label"] for p in predictions)
    if single:
        return {**predictions[0], "model_version": predictor.version}
    return {"predictions": predictions, "model_version": predictor.version}
