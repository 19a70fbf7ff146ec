"""The tritonclient snippet of docs/v2-protocol.md runs as written against a real gunicorn."""
from __future__ import annotations

import contextlib
import io
import re

from tests.conftest import ROOT


def test_the_documented_tritonclient_snippet_runs(gunicorn_server, trained_model_dir):
    server = gunicorn_server(trained_model_dir, workers=1)
    text = (ROOT / "docs" / "v2-protocol.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", text, re.S)
    assert "localhost:8000" in snippet
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet.replace("localhost:8000", server.url.removeprefix("http://")), {})
    sha_version, answer = printed.getvalue().splitlines()
    assert re.fullmatch(r"[0-9a-f]{12}", sha_version)
    label, top = answer.rsplit(" ", 1)
    assert label and 0.1 <= float(top) <= 1.0
    server.stop()
