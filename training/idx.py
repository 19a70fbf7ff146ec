"""The IDX file format (Fashion-MNIST's own): load and save uint8 arrays, raw or gzip.

Header: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of dimensions,
then one big-endian uint32 per dimension, then the values.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from training.errors import DataError

UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def load_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with `ndim` dimensions into a uint8 array."""
    data = _read_bytes(path)
    expected = f"an IDX file of unsigned bytes with {ndim} dimension(s) (magic 0x0000080{ndim})"
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: {len(data)} bytes is too short for {expected}")
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != UBYTE or dims != ndim:
        magic = data[:4].hex()
        raise DataError(f"{path}: magic 0x{magic} is not {expected}")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = memoryview(data)[4 + 4 * ndim:]
    count = int(np.prod(shape))
    if len(body) != count:
        what = "truncated" if len(body) < count else "has trailing bytes"
        raise DataError(f"{path}: {what}: header says shape {list(shape)} = {count} bytes, "
                        f"found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); the save half of `load_idx`."""
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
