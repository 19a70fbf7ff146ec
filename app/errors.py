"""Errors the app raises on purpose: a client's mistake (InputError) or a bad model (ModelLoadError)."""
from __future__ import annotations


class InputError(Exception):
    """A client's mistake: the HTTP layer answers `{"error": {"code", "message"}}` with `status`;
    the batch scorer writes it as an error row. Never a 500."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ModelLoadError(Exception):
    """The model folder cannot be served: a file is missing, corrupt or inconsistent.
    The message names the file, so one log line tells an operator what to fix."""


# gunicorn's "worker failed to boot": on this exit code the arbiter halts instead of respawning.
WORKER_BOOT_ERROR = 3
