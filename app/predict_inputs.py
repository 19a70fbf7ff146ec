"""The images of a /predict request, in any of its input forms, as raw items in input order.

Forms (docs/api.md): multipart field `image` (repeatable); a raw body with an `image/*` (or
`application/octet-stream`) content type; JSON `{"image": x}` or `{"images": [x, ...]}` where each x
is a base64 string (a data: URL is fine) or a pixel array (28x28 or 784 values). Decoding them is
the core's job (inference.decode).
"""
from __future__ import annotations

import base64
import binascii
import json

from flask import Request

from app.request_body import read_body
from app.validation import problem
from inference.decode import Item
from inference.errors import InputError
from inference.limits import Limits


def read_items(request: Request, limits: Limits) -> tuple[list[Item], bool]:
    """The request's items and whether it asked for one image (answered without a list)."""
    body = read_body(request, limits)
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image")
        if not files:
            raise InputError(422, "missing_image", "multipart body has no file field 'image'")
        limits.check_batch(len(files))
        items, single = [f.read() for f in files], len(files) == 1
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        items, single = [body], True
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        items, single = _json_items(body, limits)
    else:
        raise InputError(415, "unsupported_media_type",
                         f"content type {mimetype or '(none)'!r} is not accepted; send multipart/form-data "
                         "with field 'image', an image/* body, or application/json")
    return items, single


def _json_items(body: bytes, limits: Limits) -> tuple[list[Item], bool]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(400, "invalid_json", f"the body is not valid JSON: {exc}")
    except RecursionError:  # thousands of nested brackets: the client's body, not our bug
        raise InputError(400, "invalid_json", "the body is not valid JSON: nested too deeply")
    found = problem("PredictJson", payload)  # the schema of app/openapi.py: types and fields
    if found is not None:
        raise InputError(400, "invalid_input", found)
    if "image" in payload:
        return [_json_item(payload["image"])], True
    images = payload["images"]
    limits.check_batch(len(images))
    return [_json_item(value) for value in images], False


def _json_item(value) -> Item:
    """A pixel array as it is (the decoder checks its shape and range), a base64 string decoded."""
    return value if isinstance(value, list) else decode_base64(value)


def decode_base64(value: str) -> bytes:
    """An image file sent as base64 text (standard or URL-safe alphabet, padding optional, a data: URL
    fine); the v2 routes take BYTES tensors in JSON this way too."""
    if value.startswith("data:"):
        _, comma, value = value.partition(",")
        if not comma:
            raise InputError(400, "invalid_base64", "a data: URL needs a comma before its base64 data")
    text = "".join(value.split())
    text += "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(400, "invalid_base64", f"the image is not valid base64: {exc}")
