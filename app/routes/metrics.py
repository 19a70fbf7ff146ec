"""GET /metrics: Prometheus text, summed over all gunicorn workers."""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.metrics import scrape_registry

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
