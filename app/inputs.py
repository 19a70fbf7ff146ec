"""Read the images of a /predict request, in any of its input forms, as raw items in input order.

Forms (DESIGN.md): multipart field `image` (repeatable); a raw body with an `image/*` (or
`application/octet-stream`) content type; JSON `{"image": x}` or `{"images": [x, ...]}` where each x
is a base64 string (a data: URL is fine) or a pixel array (28x28 or 784 values, see pixels_to_array).
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Union

import numpy as np
from flask import Request

from app.errors import InputError
from app.preprocess import pixels_to_array, preprocess_image

Item = Union[bytes, list]  # image bytes, or pixel values


def read_items(request: Request, max_batch: int) -> tuple[list[Item], bool]:
    """The request's items and whether it asked for one image (answered without a list)."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image")
        if not files:
            raise InputError(422, "missing_image", "multipart body has no file field 'image'")
        items, single = [f.read() for f in _capped(files, max_batch)], len(files) == 1
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        items, single = [request.get_data()], True
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        items, single = _json_items(request.get_data(), max_batch)
    else:
        raise InputError(415, "unsupported_media_type",
                         f"content type {mimetype or '(none)'!r} is not accepted; send multipart/form-data "
                         "with field 'image', an image/* body, or application/json")
    return items, single


def decode_items(items: list[Item], *, invert: str) -> np.ndarray:
    """Preprocess every item into the model's batch float32 [N, 1, 28, 28]; errors name the item."""
    arrays = []
    for index, item in enumerate(items):
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
