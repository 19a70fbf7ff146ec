"""The shared gunicorn factory waits through a server too busy to answer /readyz in time (a loaded
CI machine, CUDA starting in the workers) instead of failing on the first slow answer."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.integration.conftest import Server


def test_wait_ready_keeps_polling_a_server_that_answers_late(tmp_path):
    with socket.socket() as listener:  # accepts connections, never answers: each poll times out
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        log = tmp_path / "gunicorn.log"
        log.write_text("")
        try:
            server = Server(stand_in, f"http://127.0.0.1:{port}", log, workers=1)
            with pytest.raises(TimeoutError, match="not ready after"):
                server.wait_ready(timeout=3)
        finally:
            stand_in.kill()
            stand_in.wait()
