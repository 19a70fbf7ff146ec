"""Per-request bookkeeping as Flask hooks: a request id (echoed or generated), the model version
and nosniff headers, and the request counters and latency histogram. gunicorn writes the access
line with the request id (app/worker.py), which it finds in the WSGI environ."""
from __future__ import annotations

import re
import secrets
import time

from flask import Flask, g, request

from app import metrics
from app.context import model_state

# An id from the client is echoed only if it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The environ key gunicorn's access logger reads (app/worker.py spells it out: the master must not
# import this module).
REQUEST_ID = "app.request_id"


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    request.environ[REQUEST_ID] = incoming if _SAFE_ID.fullmatch(incoming) else secrets.token_hex(16)


def _finish(response):
    headers = response.headers
    headers["X-Request-ID"] = request.environ.get(REQUEST_ID, "-")
    # Every answer, API included: a browser never runs an upload echoed as JSON or text as a script.
    headers["X-Content-Type-Options"] = "nosniff"
    # The version that answered this request, even if a newer one took over meanwhile.
    predictor = g.get("predictor") or model_state().predictor
    if predictor is not None:
        headers["X-Model-Version"] = predictor.version
    # The route pattern, not the path: unknown paths must not grow the label set without bound.
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    metrics.request_counter(route, request.method, str(response.status_code)).inc()
    metrics.latency_histogram(route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
    return response
