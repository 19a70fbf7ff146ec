"""GET /metrics: Prometheus text, summed over all gunicorn workers."""
from __future__ import annotations

from flask import Blueprint, Response, current_app

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    text = current_app.extensions["metrics"].render()
    return Response(text, mimetype="text/plain; version=0.0.4")
