"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from app import metrics
from app.inputs import decode_items, read_items
from app.model import ready_predictor

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    predictor = ready_predictor()
    settings = current_app.extensions["model"].settings
    items, single = read_items(request, settings.max_batch)

    started = time.perf_counter()
    batch = decode_items(items, invert=settings.invert)
    decoded = time.perf_counter()
    probabilities = predictor.predict(batch)
    finished = time.perf_counter()

    predictions = predictor.to_predictions(probabilities)
    metrics.STAGE_SECONDS.labels("decode").inc(decoded - started)
    metrics.STAGE_SECONDS.labels("model").inc(finished - decoded)
    for prediction in predictions:
        metrics.PREDICTIONS.labels(prediction["label"]).inc()
    if single:
        answer = {**predictions[0], "model_version": predictor.version}
    else:
        answer = {"predictions": predictions, "model_version": predictor.version}
    return answer
