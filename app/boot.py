"""The "no valid model" policy of a gunicorn start, in one place.

- Before forking, the master checks the repository without starting a runtime: with no valid
  version at all it logs one line naming the file and exits WORKER_BOOT_ERROR.
- A worker of a server that has not served yet and finds no valid model also exits
  WORKER_BOOT_ERROR (gunicorn's "worker failed to boot": the arbiter halts instead of respawning
  forever). Only the first such worker reports: when a second one also exits 3 while the arbiter
  is halting, gunicorn dies with a traceback and exit code 1 instead.
- A worker that replaces another (kill -9, OOM, max-requests) after the server has served never
  does that: with the repository broken under it, it stays up, not ready, and retries, so the
  workers that still serve are not taken down with it.

The markers live in the folder the master made for this start (the metrics folder, see
gunicorn.conf.py), so they never outlive it.
"""
from __future__ import annotations

import logging
import os
import sys

from inference.errors import ModelLoadError
from inference.repository import newest_valid
from inference.settings import Settings

WORKER_BOOT_ERROR = 3
log = logging.getLogger("app")


def check_before_fork(settings: Settings, logger) -> None:
    """The master's check: exit WORKER_BOOT_ERROR with one line when nothing can be served."""
    try:
        newest_valid(settings.model_root, settings.model_backend, settings.model_version)
    except ModelLoadError as exc:
        logger.critical("cannot serve: %s", exc)
        sys.exit(WORKER_BOOT_ERROR)


def model_required() -> bool:
    """Whether this worker must stop the server when it finds no valid model: only until one
    worker of this start has served."""
    marker = _marker("served")
    return marker is None or not os.path.exists(marker)


def mark_served() -> None:
    marker = _marker("served")
    if marker is not None:
        open(marker, "a").close()


def fail_boot(exc: Exception) -> None:
    """Exit this worker: the first to fail reports and exits WORKER_BOOT_ERROR, any later one
    exits quietly (the arbiter is already halting)."""
    if _first_to_fail():
        log.critical("cannot serve: %s", exc)
        sys.exit(WORKER_BOOT_ERROR)
    sys.exit(0)


def _marker(name: str) -> str | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return os.path.join(folder, name) if folder else None


def _first_to_fail() -> bool:
    marker = _marker("boot-failed")
    if marker is None:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False
