"""The image input of a v2 inference request -> the model's batch float32 [N, 1, 28, 28] in [0, 1].

One input, named `image`, in one of three datatypes (docs/v2-protocol.md):
- FP32, the model's own tensor, [N, 1, 28, 28], [N, 28, 28] or [N, 784], values in [0, 1];
- UINT8, raw pixels 0..255 in the same shapes (divided by 255, as training does);
- BYTES, [N] or [N, 1] encoded image files, decoded by the same preprocessing as /predict
  (as binary data: the files' bytes; in JSON: base64 text, since JSON strings cannot hold raw bytes).
"""
from __future__ import annotations

import numpy as np

from app.predict_inputs import decode_base64
from app.v2.codec import Tensor, invalid_request
from inference.decode import SIZE, decode_batch
from inference.errors import InputError
from inference.limits import Limits

INPUT = "image"
DATATYPES = ("FP32", "UINT8", "BYTES")
_PIXEL_SHAPES = ((1, SIZE, SIZE), (SIZE, SIZE), (SIZE * SIZE,))  # after the batch axis


def image_batch(inputs: list[Tensor], *, limits: Limits, invert: str) -> np.ndarray:
    """The model's batch from the request's inputs; InputError (400, or 413 past MAX_BATCH or
    MAX_REQUEST_PIXELS, 503 past the deadline), as /predict."""
    names = [tensor.name for tensor in inputs]
    if names != [INPUT]:
        raise invalid_request(f"send exactly one input, named {INPUT!r}; got {names}")
    (tensor,) = inputs
    if tensor.datatype not in DATATYPES:
        raise invalid_request(f"input {INPUT!r}: datatype {tensor.datatype} is not accepted; send FP32 [N,1,28,28] "
                     "in [0, 1], UINT8 [N,28,28] pixels or BYTES [N] image files")
    shape = tensor.shape
    count = shape[0] if shape else 0
    if tensor.datatype == "BYTES":
        if len(shape) not in (1, 2) or shape[1:] not in ([], [1]):
            raise invalid_request(f"input {INPUT!r}: BYTES shape must be [N] or [N,1], not {shape}")
    elif len(shape) < 2 or tuple(shape[1:]) not in _PIXEL_SHAPES:
        raise invalid_request(f"input {INPUT!r}: {tensor.datatype} shape must be [N,1,28,28], [N,28,28] or [N,784], "
                     f"not {shape}")
    if count < 1:
        raise invalid_request(f"input {INPUT!r}: the batch is empty")
    limits.check_batch(count)
    if tensor.datatype == "BYTES":
        files = tensor.data.tolist() if tensor.binary else [_base64(text) for text in tensor.data.tolist()]
        return decode_batch(files, invert=invert, limits=limits)
    if tensor.datatype == "UINT8":
        return (tensor.data.astype(np.float32) / 255.0).reshape(count, 1, SIZE, SIZE)
    batch = tensor.data.reshape(count, 1, SIZE, SIZE)
    if not np.isfinite(batch).all():
        raise invalid_request(f"input {INPUT!r}: FP32 values must be finite (no NaN or infinity)")
    if batch.min() < 0.0 or batch.max() > 1.0:
        raise invalid_request(f"input {INPUT!r}: FP32 values must lie in [0, 1]")
    return batch


def _base64(text: bytes) -> bytes:
    """A BYTES element sent in JSON: base64 text of an image file."""
    try:
        return decode_base64(text.decode())
    except InputError as exc:  # the /predict wording, the v2 status
        raise invalid_request(f"input {INPUT!r}: BYTES data in JSON must be base64 image files: {exc.message}")

