"""GET /v1/models/fashion-mnist: model.json as training wrote it, plus where it runs."""
from __future__ import annotations

from flask import Blueprint

from app.model import ready_predictor

bp = Blueprint("metadata", __name__)


@bp.get("/v1/models/fashion-mnist")
def model_metadata():
    predictor = ready_predictor()
    return {**predictor.metadata, "backend": predictor.backend, "device": predictor.device}
