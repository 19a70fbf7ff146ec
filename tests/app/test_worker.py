"""app/worker.py: gunicorn's own error answers as the API's JSON error, and its access line."""
from __future__ import annotations

import json
import logging
import os

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


def _access_line(caplog, environ: dict, status: str = "200 OK", sent: int = 418) -> str:
    """The line app.worker.AccessLogger writes for one request, through gunicorn's real Config."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from app.worker import AccessLogger

    cfg = Config()
    cfg.set("accesslog", os.devnull)  # access lines on (gunicorn.conf.py's logconfig_dict does it there)
    logger = AccessLogger(cfg)
    logger.access_log.propagate = True  # to caplog's handler on the root
    response = SimpleNamespace(status=status, sent=sent)  # what access() reads of gunicorn's Response
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, None, {"REQUEST_METHOD": "POST", **environ}, timedelta(microseconds=1234))
    (record,) = [r for r in caplog.records if r.name == "gunicorn.access"]
    return record.getMessage()


def test_access_line_has_request_id_target_status_bytes_and_ms(caplog):
    line = _access_line(caplog, {"app.request_id": "abc-1", "RAW_URI": "/predict?return_input=png"})
    assert line == 'abc-1 "POST /predict?return_input=png" 200 418 1.23ms'


def test_access_line_ends_with_the_key_id_when_keys_are_on(caplog):
    line = _access_line(caplog, {"app.request_id": "abc-2", "RAW_URI": "/metrics", "app.key_id": "0123abcd"})
    assert line == 'abc-2 "POST /metrics" 200 418 1.23ms key=0123abcd'


def test_access_line_escapes_quotes_and_names_no_id_when_the_app_did_not_answer(caplog):
    line = _access_line(caplog, {"RAW_URI": '/x"y'}, status="400 Bad Request", sent=0)
    assert line == '- "POST /x\\"y" 400 0 1.23ms'
