"""gunicorn's gthread worker with two changes (`worker_class` in gunicorn.conf.py), and its logger
with a lighter access line (`logger_class`).

The worker:

- errors gunicorn answers itself, before Flask sees the request (a bad Content-Length, headers too
  large, a malformed request line), leave as the documented JSON `{"error": {"code", "message"}}`
  with gunicorn's own status instead of an HTML page;
- on SIGTERM the worker closes its listening sockets as soon as it stops accepting, so that once
  the master and every worker have closed theirs, new connections are refused at once instead of
  waiting in the kernel's backlog until the drain ends. In-flight requests still finish within
  graceful_timeout.
"""
from __future__ import annotations

import json

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from inference.errors import error_document


def json_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response with the JSON error body; the connection closes after it."""
    # The app's names: werkzeug's reason phrase, snake-cased; a 500 is the app's internal_error.
    code = "internal_error" if status == 500 else reason.lower().replace(" ", "_") or "error"
    body = json.dumps(error_document(code, message or reason)).encode() + b"\n"
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for gunicorn.util.write_error, which writes an HTML page."""
    util.write_nonblock(sock, json_error_bytes(status_int, reason, mesg))


class JsonErrorWorker(ThreadWorker):
    def init_process(self):
        # Worker.handle_error (which picks the status, the reason and the log line) is the one
        # caller of util.write_error, looked up by module attribute at each call, and gunicorn
        # has no hook for the body's form. Replaced here, in the worker process only, rather than
        # copying handle_error; tests/reliability/test_bodies_and_errors.py fails if gunicorn
        # stops calling it.
        util.write_error = write_json_error
        super().init_process()

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:  # stopping (not merely at worker_connections)
            for listener in self.sockets:
                listener.close()


class AccessLogger(Logger):
    """gunicorn's logger, whose access line is `<request id> "<method> <target>" <status> <bytes>
    <ms>ms`, logged as `gunicorn.access` at INFO after the response is sent (request time as gunicorn
    measured it: from the parsed request to the last byte written).

    gunicorn's own `access` builds a dict of every request and response header and environ key for
    access_log_format, whatever the format uses; this one formats the five values the line shows
    (access_log_format does not apply). The request id is the one app/access.py answered with
    (X-Request-ID); "-" for a request the app did not see. With API keys on, ` key=<key id>` ends the
    line of a request that sent a valid key (app/auth.py).
    """

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        if '"' in target:  # gunicorn refuses control characters in the request line; a quote is escaped
            target = target.replace('"', '\\"')
        # "200 OK" from the app; gunicorn's own error answers (handle_error) set only this too.
        status = str(resp.status or "-").split(None, 1)[0]
        # app.access.REQUEST_ID, spelled out: the master loads this class, and must not import
        # prometheus_client (through app.access) before gunicorn.conf.py's on_starting.
        line = '%s "%s %s" %s %d %.2fms'
        values = [environ.get("app.request_id", "-"), environ.get("REQUEST_METHOD", "-"), target, status,
                  resp.sent, request_time.total_seconds() * 1000]
        # With API keys on: which key called (app.auth.KEY_ID, a hash's first digits, never the key).
        if "app.key_id" in environ:
            line += " key=%s"
            values.append(environ["app.key_id"])
        self.access_log.info(line, *values)
