"""Every error leaves as JSON (inference.errors.error_document) with its status; never a traceback.
Under /v2 (the Open Inference Protocol) the same errors take that protocol's form `{"error": "message"}`."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.access import REQUEST_ID
from inference.errors import InputError, error_document

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str):
    if request.path == "/v2" or request.path.startswith("/v2/"):
        response = jsonify({"error": message})
    else:
        response = jsonify(error_document(code, message))
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(InputError)
    def input_error(exc: InputError):
        response = error_response(exc.status, exc.code, exc.message)
        response.headers.update(getattr(exc, "headers", None) or {})  # a 401's WWW-Authenticate
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # 404, 405, 413 (MAX_UPLOAD_MB), 503 ...: werkzeug's name becomes the code, e.g. not_found.
        response = error_response(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # A bug of ours, not the client's: the traceback goes to the log, the client gets the id.
        request_id = request.environ.get(REQUEST_ID, "-")
        log.exception("unhandled error in request %s", request_id)
        return error_response(500, "internal_error", f"internal error; request id {request_id}")
