"""app/worker.py: gunicorn's own error answers as the API's JSON error."""
from __future__ import annotations

import json

from app.worker import json_error_bytes


def test_json_error_is_a_complete_http_response():
    raw = json_error_bytes(431, "Request Header Fields Too Large", "Error parsing headers: 'limit'")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert "Content-Type: application/json" in lines and "Connection: close" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"error": {"code": "request_header_fields_too_large",
                                          "message": "Error parsing headers: 'limit'"}}


def test_a_500_has_the_apps_code_and_an_empty_message_falls_back_to_the_reason():
    body = json_error_bytes(500, "Internal Server Error", "").partition(b"\r\n\r\n")[2]
    assert json.loads(body)["error"] == {"code": "internal_error", "message": "Internal Server Error"}
