"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

from flask import Blueprint, request

from app import metrics
from app.context import ready_predictor, settings
from app.predict_inputs import read_items
from app.return_input import attach_inputs, requested_formats
from inference.decode import decode_batch
from inference.limits import Limits

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    predictor = ready_predictor()
    config = settings()
    input_formats = requested_formats(request.args)  # before reading the body: a bad value fails fast
    limits = Limits.start(config)
    items, single = read_items(request, limits)
    batch, probabilities = metrics.timed_predict(
        predictor, lambda: decode_batch(items, invert=config.invert, limits=limits))

    predictions = predictor.to_predictions(probabilities)
    attach_inputs(predictions, batch, input_formats)
    metrics.count_predictions(p["label"] for p in predictions)
    if single:
        return {**predictions[0], "model_version": predictor.version}
    return {"predictions": predictions, "model_version": predictor.version}
