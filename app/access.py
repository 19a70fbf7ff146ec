"""Per-request bookkeeping: a request id (echoed or generated), the model version header, the access
log line with latency, and the request counters and latency histogram."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

log = logging.getLogger("app.access")
# An id from the client is echoed only if it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def init_app(app: Flask) -> None:
    # Hooks close over the app rather than going through current_app: every proxy lookup costs
    # about a microsecond, and these run on every request.
    def start() -> None:
        req, ctx = request._get_current_object(), g._get_current_object()
        ctx.started = time.perf_counter()
        incoming = req.headers.get("X-Request-ID", "")
        ctx.request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex

    def finish(response):
        req, ctx = request._get_current_object(), g._get_current_object()
        seconds = time.perf_counter() - ctx.get("started", time.perf_counter())
        request_id = ctx.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        predictor = app.extensions["model"].predictor
        if predictor is not None:
            response.headers["X-Model-Version"] = predictor.version
        # The route pattern, not the path: unknown paths must not grow the label set without bound.
        route = req.url_rule.rule if req.url_rule is not None else "unmatched"
        metrics = app.extensions["metrics"]
        status = response.status_code
        metrics.inc("http_requests_total", {"route": route, "method": req.method, "status": str(status)})
        metrics.observe("http_request_duration_seconds", {"route": route}, seconds)
        log.info('%s "%s %s" %d %d %.2fms', request_id, req.method, req.full_path.rstrip("?"), status,
                 response.calculate_content_length() or 0, seconds * 1000)
        return response

    app.before_request(start)
    app.after_request(finish)
