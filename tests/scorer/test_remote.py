"""The scorer's --url mode against an HTTP server that is not (or no longer) the API: a wrong URL,
or a service that breaks mid-run, ends the run with one line and exit code 2, never a traceback;
and each row carries the model version the service answered with.

The server is a real stdlib HTTP server on a free port; it stands in for "some other service",
which the real gunicorn app cannot be made to be.
"""
from __future__ import annotations

import http.server
import json
import threading

import pytest
from PIL import Image

from scorer.cli import main
from tests.scorer.samples import CLASSES

METADATA = json.dumps({"classes": CLASSES, "version": "abc123def456"}).encode()
# route answers: (status, body) for GET (the model metadata) and POST (/predict)
ANSWERS = {
    "metadata is a JSON list": ((200, b"[1, 2]"), (200, b"{}")),
    "predict answers 500": ((200, METADATA), (500, b'{"error": {"code": "internal_error", "message": "boom"}}')),
    "predict answers a JSON list": ((200, METADATA), (200, b"[]")),
    "predict answers no prediction objects": ((200, METADATA), (200, b'{"predictions": [1]}')),
}


@pytest.fixture
def stub_url(request):
    get, post = request.param

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer(*get)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(*post)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stub_url", ANSWERS.values(), ids=ANSWERS.keys(), indirect=True)
def test_a_url_that_is_not_the_api_is_one_line(stub_url, tmp_path, capsys):
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    code = main([str(tmp_path / "a.png"), "--out", str(tmp_path / "out.csv"), "--url", stub_url])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [err.strip().splitlines()[-1]]
    assert stub_url in err


PREDICTION = {"label": "Bag", "class_index": 8, "confidence": 0.5,
              "probabilities": {name: (0.5 if name == "Bag" else 0.5 / 9) for name in CLASSES}}
SERVED = json.dumps({**PREDICTION, "model_version": "def456abc123"}).encode()


@pytest.mark.parametrize("stub_url", [((200, METADATA), (200, SERVED))], indirect=True)
def test_rows_carry_the_version_that_answered(stub_url, tmp_path):
    """The service names the model that answered each request (it may change models mid-run);
    error rows carry the version the run started with."""
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    out = tmp_path / "out.jsonl"
    assert main([str(tmp_path / "a.png"), str(tmp_path / "gone.png"), "--out", str(out), "--url", stub_url]) == 0
    first, second = [json.loads(line) for line in out.read_text().splitlines()]
    assert first == {"source": str(tmp_path / "a.png"), **PREDICTION, "model_version": "def456abc123"}
    assert second == {"source": str(tmp_path / "gone.png"), "error": "no such file or directory",
                      "model_version": "abc123def456"}
