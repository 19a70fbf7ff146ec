"""Read a request's whole body under the upload cap, whatever its transfer encoding (/predict and
v2 infer share it)."""
from __future__ import annotations

import io

from flask import Request

from inference.errors import InputError
from inference.limits import Limits

_READ_SIZE = 1 << 16


def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body, checked against its declared length and the upload cap: a body cut short
    (the client half-closed) is a 400, one over the cap a 413. Afterwards the request reads its
    body (form, files, data) from these bytes."""
    declared = request.content_length  # None for a chunked body
    if declared is not None and declared > limits.max_bytes:
        raise _too_large(limits)
    want = limits.max_bytes + 1 if declared is None else declared
    environ = request.environ
    stream, chunks, got = environ["wsgi.input"], [], 0
    while got < want:
        chunk = stream.read(min(_READ_SIZE, want - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got > limits.max_bytes:
        raise _too_large(limits)
    if declared is not None and got < declared:
        raise InputError(400, "incomplete_body",
                         f"the body ended after {got} of the {declared} bytes its Content-Length declares")
    body = b"".join(chunks)
    environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(got), "wsgi.input_terminated": False})
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _too_large(limits: Limits) -> InputError:
    return InputError(413, "request_entity_too_large",
                      f"the body is larger than MAX_UPLOAD_MB ({limits.max_bytes} bytes)")
