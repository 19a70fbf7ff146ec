"""Errors raised on purpose: a client's mistake (InputError) or a model that cannot be served
(ModelLoadError), and the one JSON shape every error answer takes."""
from __future__ import annotations


class InputError(Exception):
    """A client's mistake: the HTTP layer answers `error_document(code, message)` with `status`;
    the batch scorer writes it as an error row. Never a 500."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ModelLoadError(Exception):
    """The model folder cannot be served: a file is missing, corrupt or inconsistent.
    The message names the file, so one log line tells an operator what to fix."""


def error_document(code: str, message: str) -> dict:
    """The body of every error answer: the app's handlers, gunicorn's own errors (app/worker.py)
    and the proxy's (docker/nginx, checked against this by tests/deploy)."""
    return {"error": {"code": code, "message": message}}
