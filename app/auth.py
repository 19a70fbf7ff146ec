"""API keys (API_KEYS, API_KEYS_FILE): with keys set, every route needs one, sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; a missing or wrong one is a 401. Without keys
the service is open.

Open whatever the keys: the probes (/healthz, /readyz, and the v2 protocol's /v2/health/live and
/v2/health/ready, which KServe's probes call; a kubelet probe cannot read a Secret), and the files a browser loads before it can
send a key: the page (/, /page/...) and the API's documentation (/openapi.json, /docs/...), whose
Swagger UI sends the key once entered under "Authorize". The page asks for a key when the API
answers 401.

Keys are compared as SHA-256 digests with hmac.compare_digest, against every key each time, so
neither the time nor the order of the keys tells a caller how close a guess came. The access line
names a caller by a key id, the first 8 hex digits of the key's SHA-256; the key itself is never
logged nor a metric label.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Flask, request

from inference.errors import InputError

# The environ key gunicorn's access logger reads (app/worker.py spells it out, as for the request id).
KEY_ID = "app.key_id"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/", "/openapi.json",
                        "/docs"})
OPEN_PREFIXES = ("/page/", "/docs/")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fashion-mnist"'}


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


class Unauthorized(InputError):
    """A 401 whose answer carries the Bearer challenge (app/error_handlers.py adds `headers`)."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message)
        self.headers = _CHALLENGE


def init_app(app: Flask, keys: tuple[str, ...]) -> None:
    """Require one of `keys` on every route but the open ones; nothing when there are none."""
    if not keys:
        return
    digests = [(hashlib.sha256(key.encode()).digest(), key_id(key)) for key in keys]

    def check() -> None:
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return
        sent = _sent_key()
        if sent is None:
            raise Unauthorized("this API needs a key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        digest = hashlib.sha256(sent.encode("utf-8", "surrogateescape")).digest()
        found = None
        for known, ident in digests:  # every key, whatever matched: the time does not depend on which
            if hmac.compare_digest(digest, known):
                found = ident
        if found is None:
            raise Unauthorized("the API key is not valid")
        request.environ[KEY_ID] = found

    # Before app/access.py's hook, which runs first: the answer still gets a request id and counts.
    app.before_request(check)


def _sent_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None
