"""The `return_input` option of POST /predict: the 28x28 input exactly as the model received it,
returned beside each prediction, so a person can see what preprocessing (inversion, padding,
resizing) made of their image.

`?return_input=png` adds `input_png` (base64 of an 8-bit grayscale 28x28 PNG), `?return_input=pixels`
adds `input_pixels` (28 rows of 28 floats in [0, 1]); `png,pixels` adds both. The values come from
the batch the model was given, not from a second preprocessing of the upload.
"""
from __future__ import annotations

import base64
import io
from typing import Mapping

import numpy as np
from PIL import Image

from inference.errors import InputError

PARAMETER = "return_input"
FORMATS = ("png", "pixels")


def requested_formats(args: Mapping[str, str]) -> tuple[str, ...]:
    """The formats a request's query asks for (empty when it asks for none); 400 for any other value."""
    if PARAMETER not in args:
        return ()
    raw = args[PARAMETER]
    formats = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",")))
    if not formats or not all(f in FORMATS for f in formats):
        raise InputError(400, "invalid_parameter",
                         f"{PARAMETER} must be png, pixels or png,pixels; got {raw!r}")
    return formats


def attach_inputs(predictions: list[dict], batch: np.ndarray, formats: tuple[str, ...]) -> None:
    """Add the requested encodings of each batch image [N, 1, 28, 28] to its prediction object."""
    if not formats:
        return
    for prediction, image in zip(predictions, batch[:, 0]):
        if "png" in formats:
            prediction["input_png"] = encode_png(image)
        if "pixels" in formats:
            # float32 values widened to float64 by tolist: sent back as pixels, they give the
            # same float32 input again, so the same probabilities.
            prediction["input_pixels"] = image.tolist()


def encode_png(image: np.ndarray) -> str:
    """Base64 of a grayscale PNG of a float image in [0, 1] (scaled to 0..255 and rounded)."""
    levels = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
