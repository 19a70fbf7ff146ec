"""Helpers of the monitoring tests: a real Visdom server on 127.0.0.1, and a short training run."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import requests


@contextlib.contextmanager
def visdom_server(port: int, env_path: Path):
    """Visdom's own server on 127.0.0.1:port, without the CDN download `python -m visdom.server`
    does first (no internet here): its run_server.main(), as the module runs it after the download.
    Yields (URL, the server's process)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from visdom.server.run_server import main; main()",
         "-port", str(port), "-bind_local", "-env_path", str(env_path), "-logging_level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # read only once it exited
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # Any answer will do: without the frontend scripts the page itself may be an error.
                requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.RequestException:  # not listening yet
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"visdom server did not start: {process.communicate()[1].decode()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    """A two-epoch run on the real sample: 19 batches of 32 per epoch."""
    return ["--data-dir", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "32",
            "--device", "cpu", "--threads", "1", "--no-progress", *extra]
