"""A real gunicorn, started exactly as documented (`gunicorn -c gunicorn.conf.py` from the repository
root, configured by environment only), on a free port, against a model folder.

A test module gets `server` (module-scoped: 2 workers on the trained model) by asking for it; for
other settings it defines its own `server` with the session-scoped factory, from any fixture scope:

    @pytest.fixture(scope="module")
    def server(gunicorn_server, trained_model_dir):
        srv = gunicorn_server(trained_model_dir, workers=2, env={"MAX_BATCH": "8"})
        yield srv          # srv.url, srv.log(), srv.worker_pids(), srv.served_by(id_prefix), srv.pid
        srv.stop()         # optional: the factory stops whatever is left at the end of the session
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

GUNICORN = Path(sys.executable).with_name("gunicorn")


def wait_until(predicate, timeout: float = 20.0):
    """The first true value `predicate()` gives within `timeout` seconds (asked every 50 ms), or
    None when it gives none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return None


@dataclass
class Server:
    """A running gunicorn master; its workers are its child processes."""

    process: subprocess.Popen
    url: str
    log_path: Path
    workers: int
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_match(self, pattern: str, timeout: float = 10.0) -> re.Match | None:
        """The first match of `pattern` (multiline) in the log, waited for: gunicorn writes a
        request's access line after it has sent the answer, so the client may read the answer first."""
        return wait_until(lambda: re.search(pattern, self.log(), re.M), timeout)

    def worker_pids(self) -> list[int]:
        """Live (not zombie) child processes of the master."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended while we looked
                continue
            if int(fields[1]) == self.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def served_by(self, id_prefix: str) -> set[int]:
        """Pids of the workers whose access log lines show request ids starting with `id_prefix`."""
        return {int(pid) for pid in re.findall(rf"\[(\d+)\] INFO gunicorn\.access: {re.escape(id_prefix)}\S* ",
                                               self.log())}

    def wait_ready(self, timeout: float = 60.0, ready_lines: int | None = None) -> None:
        """Until /readyz answers 200 and the log shows `ready_lines` workers ready (default: all)."""
        want = self.workers if ready_lines is None else ready_lines
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                ready = requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except requests.RequestException:  # refused while booting, or slow on a busy machine
                ready = False
            if ready and self.log().count("INFO inference.model_state: ready:") >= want:
                return
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn not ready after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful), SIGKILL if it hangs; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(model_dir: Path, log_path: Path, *, workers: int = 2, env: dict | None = None,
                   wait: bool = True) -> Server:
    """Start `gunicorn -c gunicorn.conf.py` in the repository root; `env` adds settings."""
    port = free_port()
    settings = {"MODEL_DIR": str(model_dir), "PORT": str(port), "WEB_CONCURRENCY": str(workers),
                "LOG_LEVEL": "info", **(env or {})}
    log = log_path.open("w")
    process = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py"], cwd=ROOT,
                               env={**os.environ, **settings}, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path, workers, log)
    if wait:
        try:
            server.wait_ready()
        except Exception:
            server.stop()
            raise
    return server


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    """The default server of a test module: 2 workers on the trained model. A module that needs
    other settings defines its own `server`, which takes precedence."""
    srv = gunicorn_server(trained_model_dir, workers=2)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def gunicorn_server(tmp_path_factory):
    """Factory `(model_dir, workers=2, env=None, wait=True) -> Server`; stops all at session end."""
    started: list[Server] = []

    def start(model_dir: Path, workers: int = 2, env: dict | None = None, wait: bool = True) -> Server:
        log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
        server = start_gunicorn(model_dir, log_path, workers=workers, env=env, wait=wait)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
