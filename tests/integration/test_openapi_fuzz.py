"""schemathesis against a real gunicorn with API keys serving its own /openapi.json, the key sent as a
header: every documented operation, positive and negative data (the latter must be refused with a
4xx), a bounded number of examples (10 per operation and phase).
No 5xx; every answer's status, content type, headers and body conform to the document."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,negative_data_rejection")
KEY = "fuzz-key"


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    # A small body cap, so that generated bodies also reach the 413 answers.
    srv = gunicorn_server(trained_model_dir, workers=2,
                          env={"MAX_UPLOAD_MB": "0.5", "MAX_BATCH": "16", "API_KEYS": KEY, "HOST": "127.0.0.1"})
    yield srv
    srv.stop()


def test_the_service_conforms_to_its_openapi_document(server, tmp_path):
    # A fixed seed: a failure here reproduces with the same command.
    command = [str(SCHEMATHESIS), "run", f"{server.url}/openapi.json", "--checks", CHECKS,
               "--phases", "examples,coverage,fuzzing", "--max-examples", "10", "--seed", "1",
               "--header", f"Authorization: Bearer {KEY}",
               "--generation-database", "none", "--request-timeout", "20", "--no-color"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Every operation of the document was tested.
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested and selected.group(1) == selected.group(2) == tested.group(1), run.stdout[-3000:]
    log = server.log()
    assert not re.search(r'" 5\d\d \d+ ', log)  # no 5xx in the access log either
    assert not re.search(r'" 401 \d+ ', log)  # the key went with every request
    assert len(re.findall(r"key=", log)) > 500, len(re.findall(r"key=", log))
