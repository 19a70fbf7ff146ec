"""gunicorn's entry point (`app.wsgi:app`), imported in each worker after the fork.

A model that cannot load stops the whole server: one log line naming the file, then exit code 3,
gunicorn's "worker failed to boot", on which the arbiter halts instead of respawning forever.
"""
from __future__ import annotations

import logging
import sys

from app import create_app
from app.errors import ModelLoadError

WORKER_BOOT_ERROR = 3

try:
    app = create_app()
except (ModelLoadError, ValueError) as exc:
    logging.getLogger("app").critical("cannot serve: %s", exc)
    sys.exit(WORKER_BOOT_ERROR)
