"""Decode the common uploads with libspng (pyspng) and libjpeg-turbo (simplejpeg) instead of Pillow.

Pillow spends most of a small image's decoding in Python (`Image.open`, plugin lookup, `load`);
these C decoders skip that (figures in benchmarks/README.md). They take only the cases whose pixels
come out exactly as Pillow's: 8-bit PNG (interlaced or not) in gray, gray+alpha, RGB or RGBA with no
transparency chunk and nothing that can carry an orientation; baseline or progressive JPEG in gray
or YCbCr with no EXIF/XMP segment. Everything else (palette, 16-bit, 1/2/4-bit, tRNS, EXIF, CMYK,
YCCK, other formats) returns None and goes through Pillow in inference/decode.py.
"""
from __future__ import annotations

import struct

import numpy as np
import pyspng
import simplejpeg

from inference.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour type -> libspng output: 0 gray, 2 RGB, 6 RGBA as they are; 4 gray+alpha as RGBA (it
# has no 8-bit gray+alpha output; R = G = B gives the gray back exactly). 3 (palette) is Pillow's.
_PNG_FORMATS = {0: "L", 2: "RGB", 4: "RGBA", 6: "RGBA"}
# Chunks that change no pixel value in Pillow's decoding (it applies no gamma, ICC or sBIT). Any
# other chunk (tRNS, eXIf, APNG frames, private ones) sends the image to Pillow.
_PNG_HARMLESS = {b"IHDR", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs", b"sBIT",
                 b"bKGD", b"tIME", b"hIST", b"sPLT", b"PLTE"}
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
# Where PIL's getexif finds an orientation in a PNG (EXIF chunk, ImageMagick's text chunk, XMP):
# keys of Image.info, and keywords of text chunks.
ORIENTATION_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")
_ORIENTATION_KEYWORDS = {key.encode() for key in ORIENTATION_KEYS}
_JPEG_COLORSPACES = {"Gray": "GRAY", "YCbCr": "RGB"}


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse a canvas over the cap from its header, before any pixel is decoded."""
    if width * height > max_pixels:
        raise InputError(413, "image_too_large",
                         f"the image is {width}x{height} pixels; at most {max_pixels} are decoded")


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's frame header, nothing decoded; None for any
    other file (the caller asks Pillow)."""
    header = _png_header(data)
    if header is not None:
        return header[0], header[1]
    if data.startswith(b"\xff\xd8"):
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:
            return None
        return width, height
    return None


def decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """uint8 pixels [H, W] (gray) or [H, W, C] (C: 3 RGB, 4 RGBA), or None when the
    image is not one the fast decoders take (then Pillow decodes it, and reports any error)."""
    if data.startswith(PNG_SIGNATURE):
        return _png(data, max_pixels)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data, max_pixels)
    return None


def _png_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk, which must come first;
    None for anything else, a file cut inside its IHDR included."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">IIBB", data[16:26])


def _png(data: bytes, max_pixels: int) -> np.ndarray | None:
    header = _png_header(data)
    if header is None:
        return None
    width, height, depth, color_type = header
    if depth != 8 or color_type not in _PNG_FORMATS or not _png_chunks_are_harmless(data):
        return None
    check_size(width, height, max_pixels)
    try:
        return pyspng.load(data, _PNG_FORMATS[color_type])
    except (RuntimeError, ValueError):  # corrupt or truncated: Pillow says what is wrong
        return None


def _png_chunks_are_harmless(data: bytes) -> bool:
    """Walk the chunk headers (a few per small PNG) without checking CRCs (libspng does)."""
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind in _PNG_TEXT:
            body = data[offset + 8:offset + 8 + min(length, 80)]
            if body.split(b"\0", 1)[0] in _ORIENTATION_KEYWORDS:
                return False
        elif kind not in _PNG_HARMLESS:
            return False
        if kind == b"IEND":
            return True
        offset += 12 + length
    return True  # truncated: libspng refuses it and Pillow reports it


def _jpeg(data: bytes, max_pixels: int) -> np.ndarray | None:
    if _jpeg_has_app1(data):  # EXIF or XMP: an orientation Pillow applies
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in _JPEG_COLORSPACES:  # CMYK, YCCK, unknown: Pillow's conversions
        return None
    check_size(width, height, max_pixels)
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace=_JPEG_COLORSPACES[colorspace])
    except ValueError:
        return None
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def _jpeg_has_app1(data: bytes) -> bool:
    """Whether a marker segment before the scan data is APP1 (EXIF, XMP)."""
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xE1:
            return True
        if marker == 0xDA:  # start of scan: no more header segments
            return False
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        offset += 2 + struct.unpack(">H", data[offset + 2:offset + 4])[0]
    return False
