"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from app import metrics
from app.inputs import Limits, decode_items, read_items
from app.model import ready_predictor
from app.return_input import attach_inputs, requested_formats

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    predictor = ready_predictor()
    settings = current_app.extensions["model"].settings
    input_formats = requested_formats(request.args)  # before reading the body: a bad value fails fast
    limits = Limits.start(settings)
    items, single = read_items(request, limits)

    started = time.perf_counter()
    batch = decode_items(items, invert=settings.invert, limits=limits)
    decoded = time.perf_counter()
    probabilities = predictor.predict(batch)
    finished = time.perf_counter()

    predictions = predictor.to_predictions(probabilities)
    attach_inputs(predictions, batch, input_formats)
    metrics.record_prediction(decoded - started, finished - decoded, (p["label"] for p in predictions))
    if single:
        answer = {**predictions[0], "model_version": predictor.version}
    else:
        answer = {"predictions": predictions, "model_version": predictor.version}
    return answer
