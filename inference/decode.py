"""Where an upload is decoded: client input (image bytes or pixel arrays) into the model's input,
float32 [28, 28] in [0, 1], a light object on a dark background, exactly as the training data
(uint8 / 255); and a request's items into the model's batch [N, 1, 28, 28].

One module for the HTTP server and the batch scorer, so both see the same numbers. Plain 8-bit PNG
and JPEG go through inference.c_decoders; everything else through Pillow.
"""
from __future__ import annotations

import io
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inference import c_decoders
from inference.errors import InputError
from inference.limits import Limits

SIZE = 28
# 50 megapixels: a large phone photo decodes; a decompression bomb (a small file that claims a huge
# canvas) is refused from its header, before any pixel is decoded.
DEFAULT_MAX_PIXELS = 50_000_000
INVERT_CHOICES = ("auto", "always", "never")
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_16BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
Item = Union[bytes, list]  # image bytes, or pixel values
# uint8 -> [0, 1] as one lookup: the same float32 division as training's `uint8 / 255`, done once.
_LEVELS = np.arange(256, dtype=np.float32) / 255.0


def decode_image(data: bytes, *, invert: str = "auto", max_pixels: int = DEFAULT_MAX_PIXELS,
                     fast: bool = True) -> np.ndarray:
    """Decode image bytes of any size and PIL mode into float32 [28, 28] in [0, 1].

    Steps: pixel cap from the header, decode, EXIF orientation, grayscale (transparency composited
    onto a contrasting background first), inversion (`auto`: when the border is light), padding to a
    square with the background level, resize to 28x28. A 28x28 8-bit grayscale image with a dark
    background comes out as exactly `uint8 / 255`.

    Plain 8-bit PNG and JPEG are decoded by inference.c_decoders (the same numbers, tested); the rest,
    or everything with `fast=False`, by Pillow.
    """
    if invert not in INVERT_CHOICES:
        raise ValueError(f"invert must be one of {INVERT_CHOICES}, not {invert!r}")
    pixels = c_decoders.decode(data, max_pixels) if fast else None
    if pixels is not None:
        gray = _pixels_to_gray(pixels)
    else:
        image = _decode(data, max_pixels)
        try:
            gray = _to_gray(image)
        except (ValueError, OSError) as exc:  # a mode PIL reads but cannot convert
            raise InputError(400, "invalid_image", f"unsupported image mode {image.mode}: {exc}")
    if invert == "always" or (invert == "auto" and _background(gray) > 0.5):
        gray = 1.0 - gray
    return _fit(gray)


def pixels_to_array(values) -> np.ndarray:
    """Validate pixel values (28x28 nested or 784 flat) into float32 [28, 28] in [0, 1].

    Integers mean the 0..255 scale (divided by 255, as training does); any float means the [0, 1]
    scale. Values are the model's input as they are: light object on dark, no inversion.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(422, "invalid_pixels", f"pixel values are not a rectangular array of numbers: {exc}")
    if array.dtype.kind not in "iuf":
        raise InputError(422, "invalid_pixels", "pixel values must be numbers")
    if array.shape not in ((SIZE, SIZE), (SIZE * SIZE,)):
        raise InputError(422, "invalid_shape",
                         f"pixel values must be 28x28 or 784 values, got shape {list(array.shape)}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InputError(422, "invalid_pixels", "pixel values must be finite (no NaN or infinity)")
        if array.min() < 0.0 or array.max() > 1.0:
            raise InputError(422, "out_of_range", "float pixel values must lie in [0, 1]")
        return array.astype(np.float32).reshape(SIZE, SIZE)
    if array.min() < 0 or array.max() > 255:
        raise InputError(422, "out_of_range", "integer pixel values must lie in 0..255")
    return (array.astype(np.uint8).astype(np.float32) / 255.0).reshape(SIZE, SIZE)


def decode_batch(items: list[Item], *, invert: str, limits: Limits | None = None) -> np.ndarray:
    """Decode every item into the model's batch float32 [N, 1, 28, 28]; errors name the item.
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
                arrays.append(decode_image(item, invert=invert))
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
    knows: decode_image then refuses it with the precise error."""
    size = c_decoders.dimensions(data)
    if size is None:
        try:
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
        except Exception:  # any unreadable header: not this check's error to report
            return 0
    return size[0] * size[1]


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Open and decode the first frame, refusing oversize canvases before decoding them."""
    if not data:
        raise InputError(400, "invalid_image", "the image is empty")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        c_decoders.check_size(*image.size, max_pixels)
        image.load()
        if _may_be_oriented(image):
            ImageOps.exif_transpose(image, in_place=True)
        return image
    except Image.DecompressionBombError as exc:
        raise InputError(413, "image_too_large", str(exc))
    except UnidentifiedImageError:
        # PIL's own text names the BytesIO object by its address: different on every call.
        raise InputError(400, "invalid_image", "not a readable image: unrecognised image format")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(400, "invalid_image", f"not a readable image: {exc}")


def _to_gray(image: Image.Image) -> np.ndarray:
    """Any PIL mode to float32 gray in [0, 1], keeping 16-bit precision where there is some."""
    if image.mode in _16BIT_MODES:
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode == "I":
        # 32-bit ints: what fits 0..255 is 8-bit data widened; anything larger is on the 16-bit scale.
        values = np.asarray(image, dtype=np.float32)
        return np.clip(values / (255.0 if values.max() <= 255 else 65535.0), 0.0, 1.0)
    if image.mode == "F":
        # PIL's own F -> L convention: values on the 0..255 scale.
        return np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0.0, 1.0)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return _composite(np.asarray(rgba.convert("L")), np.asarray(rgba.getchannel("A")))
    if image.mode not in ("L", "RGB", "1", "P"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...: through RGB to one luma formula
    if image.mode != "L":
        image = image.convert("L")  # ITU-R 601 luma; R = G = B = v gives v exactly
    return _LEVELS[np.asarray(image, dtype=np.uint8)]


def _pixels_to_gray(pixels: np.ndarray) -> np.ndarray:
    """c_decoders' uint8 L, RGB or RGBA pixels to float32 gray, as _to_gray does with Pillow."""
    if pixels.ndim == 2:
        return _LEVELS[pixels]
    # Pillow's own RGB -> L (C, integer ITU-R 601 luma): the same bytes as the Pillow path, and
    # faster on large images than the formula in numpy.
    luma = np.asarray(Image.fromarray(pixels).convert("L"))
    return _composite(luma, pixels[:, :, 3]) if pixels.shape[2] == 4 else _LEVELS[luma]


def _may_be_oriented(image: Image.Image) -> bool:
    """False only for a PNG with none of the chunks that can carry an orientation: then
    exif_transpose (a tenth of a small PNG's decoding) has nothing to do. Other formats always go
    through it (a TIFF keeps its orientation in its own tags)."""
    return image.format != "PNG" or any(key in image.info for key in c_decoders.ORIENTATION_KEYS)


def _composite(luma: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten transparency (uint8 gray and alpha) onto the background that contrasts with the
    visible object (black under a light object, white under a dark one), so inversion then sees a
    real edge."""
    gray, alpha = _LEVELS[luma], _LEVELS[alpha]
    covered = float(alpha.sum())
    object_level = float((gray * alpha).sum() / covered) if covered else 0.0
    background = 0.0 if object_level >= 0.5 else 1.0
    return gray * alpha + background * (1.0 - alpha)


def _background(gray: np.ndarray) -> float:
    """Background level estimated as the median (the upper middle) of the outermost pixel ring.
    Sorted by hand: np.median's overhead is several times the rest of this decision
    (benchmarks/README.md, hot-path tricks)."""
    ring = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    ring.sort()
    return float(ring[len(ring) // 2])


def _fit(gray: np.ndarray) -> np.ndarray:
    """Pad to a square with the background level, then resize to 28x28 (aspect ratio kept)."""
    if gray.shape == (SIZE, SIZE):
        return gray.astype(np.float32, copy=False)
    height, width = gray.shape
    side = max(height, width)
    square = np.full((side, side), _background(gray), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = gray
    resized = Image.fromarray(square).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
