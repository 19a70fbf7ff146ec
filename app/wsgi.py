"""gunicorn's entry point (`app.wsgi:app`), imported in each worker after the fork.

A model that cannot load stops the whole server: one log line naming the file, then exit code 3,
gunicorn's "worker failed to boot", on which the arbiter halts instead of respawning forever.
"""
from __future__ import annotations

import logging
import os
import sys

from app import create_app
from app.errors import WORKER_BOOT_ERROR, ModelLoadError


def _first_to_fail() -> bool:
    """Whether this is the first worker of this gunicorn to fail booting. Only that one reports and
    exits 3: when a second worker also exits 3 while the arbiter is halting, gunicorn (27) dies
    with a traceback and exit code 1 instead. The marker lives in the folder gunicorn.conf.py made
    for this start (the metrics folder)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return True
    try:
        os.close(os.open(os.path.join(folder, "boot-failed"), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


try:
    app = create_app()
except (ModelLoadError, ValueError) as exc:
    if _first_to_fail():
        logging.getLogger("app").critical("cannot serve: %s", exc)
        sys.exit(WORKER_BOOT_ERROR)
    sys.exit(0)  # another worker already reported it and the arbiter is halting
