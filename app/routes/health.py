"""Liveness and readiness: /healthz while the process lives, /readyz once the model has warmed up."""
from __future__ import annotations

from flask import Blueprint

from app.context import ready_predictor

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    predictor = ready_predictor()  # 503 until loaded and warmed up
    return {"status": "ready", "model_version": predictor.version, "serving_version": predictor.number,
            "backend": predictor.backend, "device": predictor.device}
