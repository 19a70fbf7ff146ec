"""GET /v1/models/fashion-mnist: the serving model's model.json as training wrote it, where it runs,
and every version in the repository with its status."""
from __future__ import annotations

from flask import Blueprint

from app.context import model_state, ready_predictor

bp = Blueprint("metadata", __name__)


@bp.get("/v1/models/fashion-mnist")
def model_metadata():
    predictor = ready_predictor()
    return {**predictor.metadata, "backend": predictor.backend, "device": predictor.device,
            "serving_version": predictor.number,
            "versions": model_state().statuses()}
