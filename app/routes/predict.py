"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from app.inputs import decode_items, read_items
from app.model import ready_predictor

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    predictor = ready_predictor()
    app = current_app._get_current_object()
    settings, metrics = app.extensions["model"].settings, app.extensions["metrics"]
    items, single = read_items(request._get_current_object(), settings.max_batch)

    started = time.perf_counter()
    batch = decode_items(items, invert=settings.invert)
    decoded = time.perf_counter()
    probabilities = predictor.predict(batch)
    metrics.inc("predict_stage_seconds_total", {"stage": "decode"}, decoded - started)
    metrics.inc("predict_stage_seconds_total", {"stage": "model"}, time.perf_counter() - decoded)

    predictions = [predictor.to_prediction(row) for row in probabilities]
    for prediction in predictions:
        metrics.inc("predictions_total", {"label": prediction["label"]})
    if single:
        return {**predictions[0], "model_version": predictor.version}
    return {"predictions": predictions, "model_version": predictor.version}
