"""Read the images of a /predict request, in any of its input forms, as raw items in input order.

Forms (DESIGN.md): multipart field `image` (repeatable); a raw body with an `image/*` (or
`application/octet-stream`) content type; JSON `{"image": x}` or `{"images": [x, ...]}` where each x
is a base64 string (a data: URL is fine) or a pixel array (28x28 or 784 values, see pixels_to_array).
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import time
from typing import NamedTuple, Union

import numpy as np
from flask import Request
from PIL import Image

from app import fast_decode
from app.errors import InputError
from app.preprocess import pixels_to_array, preprocess_image

Item = Union[bytes, list]  # image bytes, or pixel values
_READ_SIZE = 1 << 16


class Limits(NamedTuple):
    """What one request may cost: body bytes, images, pixels, and a deadline (time.monotonic())."""

    max_bytes: int
    max_batch: int
    max_pixels: int
    timeout_s: float
    deadline: float

    @classmethod
    def start(cls, settings) -> "Limits":
        """The limits of a request starting now, from the app's Settings."""
        return cls(settings.max_upload_bytes, settings.max_batch, settings.max_request_pixels,
                   settings.request_timeout_s, time.monotonic() + settings.request_timeout_s)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise InputError(503, "deadline_exceeded",
                             f"the request took longer than REQUEST_TIMEOUT_S={self.timeout_s:g}s; "
                             "send fewer or smaller images")


def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body, checked against its declared length and the upload cap, whatever its
    transfer encoding: a body cut short (the client half-closed) is a 400, one over the cap a 413.
    Afterwards the request reads its body (form, files, data) from these bytes."""
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


def read_items(request: Request, limits: Limits) -> tuple[list[Item], bool]:
    """The request's items and whether it asked for one image (answered without a list)."""
    max_batch = limits.max_batch
    body = read_body(request, limits)
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image")
        if not files:
            raise InputError(422, "missing_image", "multipart body has no file field 'image'")
        items, single = [f.read() for f in _capped(files, max_batch)], len(files) == 1
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        items, single = [body], True
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        items, single = _json_items(body, max_batch)
    else:
        raise InputError(415, "unsupported_media_type",
                         f"content type {mimetype or '(none)'!r} is not accepted; send multipart/form-data "
                         "with field 'image', an image/* body, or application/json")
    return items, single


def decode_items(items: list[Item], *, invert: str, limits: Limits | None = None) -> np.ndarray:
    """Preprocess every item into the model's batch float32 [N, 1, 28, 28]; errors name the item.
    With `limits`: the pixels of all images are counted from their headers before any is decoded
    (413 over MAX_REQUEST_PIXELS), and the deadline is checked between images (503 past it)."""
    if limits is not None:
        _check_pixel_budget(items, limits.max_pixels)
    arrays = []
    for index, item in enumerate(items):
        if limits is not None:
            limits.check_deadline()
        try:
            if isinstance(item, bytes):
                arrays.append(preprocess_image(item, invert=invert))
            else:
                arrays.append(pixels_to_array(item))
        except InputError as exc:
            if len(items) > 1:
                exc.message = f"image {index}: {exc.message}"
            raise
    if len(arrays) == 1:  # the usual single image: a view, no copy
        return arrays[0][None, None, :, :]
    return np.stack(arrays)[:, None, :, :]


def _check_pixel_budget(items: list[Item], max_pixels: int) -> None:
    total = 0
    for item in items:
        if isinstance(item, bytes):
            total += _header_pixels(item)
        if total > max_pixels:
            raise InputError(413, "too_many_pixels",
                             f"the images of this request hold more than MAX_REQUEST_PIXELS={max_pixels} "
                             "pixels; send fewer or smaller images")


def _header_pixels(data: bytes) -> int:
    """Width x height from the image's header (nothing decoded); 0 when it is not an image Pillow
    knows: preprocess_image then refuses it with the precise error."""
    size = fast_decode.dimensions(data)  # PNG and JPEG without Pillow's Image.open (tens of µs)
    if size is None:
        try:
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
        except Exception:  # any unreadable header: not this check's error to report
            return 0
    return size[0] * size[1]


def _capped(items: list, max_batch: int) -> list:
    if len(items) > max_batch:
        raise InputError(413, "too_many_images", f"{len(items)} images sent; at most {max_batch} per request")
    return items


def _json_items(body: bytes, max_batch: int) -> tuple[list[Item], bool]:
    try:
        payload = json.loads(body)  # accepts NaN, so that it is refused with a 422, not a 400
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(400, "invalid_json", f"the body is not valid JSON: {exc}")
    except RecursionError:  # thousands of nested brackets: the client's body, not our bug
        raise InputError(400, "invalid_json", "the body is not valid JSON: nested too deeply")
    if not isinstance(payload, dict) or ("image" in payload) == ("images" in payload):
        raise InputError(422, "invalid_input", "send a JSON object with exactly one of 'image' or 'images'")
    if "image" in payload:
        return [_json_item(payload["image"])], True
    images = payload["images"]
    if not isinstance(images, list) or not images:
        raise InputError(422, "invalid_input", "'images' must be a non-empty list")
    return [_json_item(value) for value in _capped(images, max_batch)], False


def _json_item(value) -> Item:
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise InputError(422, "invalid_input", "an image must be a base64 string or an array of pixel values")
    return decode_base64(value)


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
