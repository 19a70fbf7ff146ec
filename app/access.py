"""Per-request bookkeeping, as WSGI middleware around the Flask app (`app.wsgi_app`, the pattern
Flask's documentation gives for middleware): a request id (echoed or generated), the model version
and nosniff headers, and the request counters and latency histogram. gunicorn writes the access line with the
request id (app/worker.py).

Middleware rather than before/after_request hooks: it works on the WSGI environ and header list
directly, where the hooks went through Flask's context proxies about 25 times a request.
"""
from __future__ import annotations

import re
import secrets
import time

from app import metrics

# An id from the client is echoed only if it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Where the request's bookkeeping lives in the WSGI environ, for the views and error handlers.
REQUEST_ID = "app.request_id"
PREDICTOR = "app.predictor"  # set by app.model.ready_predictor: the version that answered


class RequestLog:
    """Wraps the Flask app's `wsgi_app`; `state` is the app's ModelState (app/model.py)."""

    def __init__(self, wsgi_app, state):
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = environ[REQUEST_ID] = incoming if _SAFE_ID.fullmatch(incoming) else secrets.token_hex(16)
        answered = []

        def start(status, headers, exc_info=None):
            headers.append(("X-Request-ID", request_id))
            # Every answer, API included: a browser never runs an upload echoed as JSON or text as a script.
            headers.append(("X-Content-Type-Options", "nosniff"))
            # The version that answered this request, even if a newer one took over meanwhile.
            predictor = environ.get(PREDICTOR) or self.state.predictor
            if predictor is not None:
                headers.append(("X-Model-Version", predictor.version))
            # The route pattern, not the path: unknown paths must not grow the label set without
            # bound. Flask calls `start` while its request (kept in the environ until then) is current.
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            answered.append((status[:3], rule.rule if rule is not None else "unmatched"))
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)  # Flask's response has called `start` by now
        seconds = time.perf_counter() - started
        status, route = answered[-1] if answered else ("500", "unmatched")
        metrics.request_counter(route, environ["REQUEST_METHOD"], status).inc()
        metrics.latency_histogram(route).observe(seconds)
        return body
