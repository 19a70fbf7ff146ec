"""The IDX format of the MNIST family (raw or gzip): the one reader and writer, for training's data
loading and the batch scorer's IDX inputs.

Header: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of dimensions,
one big-endian uint32 per dimension, then the values.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """A file that is not a readable IDX file of unsigned bytes; the message names it."""


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """The uint8 array of an IDX file (gzip when named .gz or when its first bytes say so),
    checked against its header, and against `ndim` when given."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz" or data[:2] == _GZIP_MAGIC:
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IdxError(f"{path}: cannot read ({exc})") from None
    return parse_idx(data, str(path), ndim)


def parse_idx(data: bytes, name: str, ndim: int | None = None) -> np.ndarray:
    expected = "an IDX file of unsigned bytes" + (f" with {ndim} dimension(s)" if ndim else "")
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != UBYTE or (ndim and data[3] != ndim):
        raise IdxError(f"{name}: magic 0x{data[:4].hex()} is not {expected} (bad magic number)")
    dims = data[3]
    header = 4 + 4 * dims
    if len(data) < header:
        raise IdxError(f"{name}: {len(data)} bytes is too short for {expected}")
    shape = struct.unpack(f">{dims}I", data[4:header])
    count = int(np.prod(shape)) if shape else 0
    found = len(data) - header
    if found != count:
        what = "truncated" if found < count else "has trailing bytes"
        raise IdxError(f"{name}: {what}: header says shape {list(shape)} = {count} bytes, found {found}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); the inverse of `read_idx`."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        # mtime=0: the same array gives the same bytes, so checksums are stable.
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path
