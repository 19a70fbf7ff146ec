"""POST /predict: images in any accepted form -> one prediction object, or {"predictions": [...]}."""
from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, request

from app.inputs import Limits, decode_items, read_items
from app.model import ready_predictor

bp = Blueprint("predict", __name__)
# What Flask's jsonify writes outside debug mode (compact, ASCII, keys in insertion order, a final
# newline), built by one encoder made once: the answer is serialised once, straight into a Response.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


@bp.post("/predict")
def predict():
    app = current_app._get_current_object()
    predictor = ready_predictor(app)
    settings, metrics = app.extensions["model"].settings, app.extensions["metrics"]
    limits = Limits.start(settings)
    items, single = read_items(request._get_current_object(), limits)

    started = time.perf_counter()
    batch = decode_items(items, invert=settings.invert, limits=limits)
    decoded = time.perf_counter()
    probabilities = predictor.predict(batch)
    finished = time.perf_counter()

    predictions = predictor.to_predictions(probabilities)
    metrics.update([("predict_stage_seconds_total", {"stage": "decode"}, decoded - started),
                    ("predict_stage_seconds_total", {"stage": "model"}, finished - decoded),
                    *(("predictions_total", {"label": p["label"]}, 1.0) for p in predictions)])
    if single:
        answer = {**predictions[0], "model_version": predictor.version}
    else:
        answer = {"predictions": predictions, "model_version": predictor.version}
    return app.response_class(_ENCODER.encode(answer) + "\n", mimetype="application/json")
