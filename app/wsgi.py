"""gunicorn's entry point (`app.wsgi:app`), imported in each worker after the fork.

With no valid model at all, the first boot stops the whole server: one log line naming the file,
then exit code 3, gunicorn's "worker failed to boot", on which the arbiter halts instead of
respawning forever. A worker that replaces another (kill -9, OOM, max-requests) after the server
has served never does that: with the repository broken under it, it stays up, not ready, and
retries, so the workers that still serve are not taken down with it.
"""
from __future__ import annotations

import logging
import os
import sys

from app import create_app
from app.errors import WORKER_BOOT_ERROR, ModelLoadError


def _run_folder_marker(name: str) -> str | None:
    """A marker file in the master's run folder (set up by gunicorn.conf.py), or None outside it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return os.path.join(folder, name) if folder else None


def _first_to_fail() -> bool:
    """Whether this is the first worker of this gunicorn to fail booting. Only that one reports and
    exits 3: when a second worker also exits 3 while the arbiter is halting, gunicorn (27) dies
    with a traceback and exit code 1 instead. The marker lives in the folder gunicorn.conf.py made
    for this start (the metrics folder)."""
    marker = _run_folder_marker("boot-failed")
    if marker is None:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def _has_served() -> bool:
    marker = _run_folder_marker("served")
    return marker is not None and os.path.exists(marker)


try:
    app = create_app({"MODEL_REQUIRED": not _has_served()})
except (ModelLoadError, ValueError) as exc:
    if _first_to_fail():
        logging.getLogger("app").critical("cannot serve: %s", exc)
        sys.exit(WORKER_BOOT_ERROR)
    sys.exit(0)  # another worker already reported it and the arbiter is halting
if app.extensions["model"].predictor is not None and (marker := _run_folder_marker("served")):
    open(marker, "a").close()
