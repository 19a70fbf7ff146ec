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

import ipaddress
import logging
import os
import socket
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


def check_port_free(addresses, logger) -> None:
    """The master's check that nothing listens on its (host, port) addresses yet: exit 1 with one
    line if something does. The workers open their own SO_REUSEPORT sockets (gunicorn.conf.py), which
    the kernel would let share a port with another server's, so that a stale server kept answering
    beside this one. A probe socket without SO_REUSEPORT cannot bind where a socket listens."""
    for address in addresses:
        if not isinstance(address, tuple):  # a unix socket path: gunicorn itself refuses one in use
            continue
        host, port = address[0], address[1]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # A closed server's connections in TIME_WAIT do not count, as for gunicorn's own bind.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                logger.critical("cannot listen on %s:%s: %s (is another server running on this port? "
                                "stop it or set PORT)", host, port, exc.strerror or exc)
                sys.exit(1)


def warn_if_open(settings: Settings, addresses, logger) -> None:
    """One warning line when the service has no API keys and listens beyond this machine."""
    if settings.api_keys:
        return
    hosts = [address[0] for address in addresses if isinstance(address, tuple)]
    public = [host for host in hosts if not _loopback(host)]
    if public:
        logger.warning("no API keys (API_KEYS, API_KEYS_FILE): every route is open to whoever reaches %s",
                       ", ".join(f"{host}:{settings.port}" for host in public))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


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
