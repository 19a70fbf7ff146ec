"""The proxy's own error answers (docker/nginx) are written by hand in its template: each must be
the body the app gives (inference.errors.error_document)."""
from __future__ import annotations

import json
import re

from inference.errors import error_document
from tests.conftest import ROOT

TEMPLATE = ROOT / "docker" / "nginx" / "nginx.conf.template"


def test_every_proxy_error_body_is_the_apps_error_document():
    bodies = re.findall(r"return (\d{3}) '(.*?)\\n';", TEMPLATE.read_text())
    assert len(bodies) >= 8
    for status, text in bodies:
        body = json.loads(text)
        error = body["error"]
        assert body == error_document(error["code"], error["message"]), status
        assert re.fullmatch(r"[a-z_]+", error["code"]) and error["message"], status
