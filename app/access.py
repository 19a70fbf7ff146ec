"""Per-request bookkeeping: a request id (echoed or generated), the model version header, the access
log line with latency, and the request counters and latency histogram."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, current_app, g, request

from app import metrics

log = logging.getLogger("app.access")
# An id from the client is echoed only if it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def init_app(app: Flask) -> None:
    app.before_request(start_request)
    app.after_request(finish_request)


def start_request() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex


def finish_request(response):
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    # The version that answered this request, even if a newer one took over meanwhile.
    predictor = g.get("predictor") or current_app.extensions["model"].predictor
    if predictor is not None:
        response.headers["X-Model-Version"] = predictor.version
    # The route pattern, not the path: unknown paths must not grow the label set without bound.
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    status = response.status_code
    metrics.request_counter(route, request.method, str(status)).inc()
    metrics.latency_histogram(route).observe(seconds)
    path = f"{request.path}?{request.query_string.decode()}" if request.query_string else request.path
    log.info('%s "%s %s" %d %d %.2fms', request_id, request.method, path, status,
             response.calculate_content_length() or 0, seconds * 1000)
    return response
