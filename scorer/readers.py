"""Turn the batch scorer's input files into pixels: image files (decoded as the server decodes an
upload), IDX image files (raw or .gz) with their labels file, .npy arrays and CSV files in the
`label,pixel1,...,pixel784` layout.

Pixels are float32 [N, 28, 28] in [0, 1]. Arrays are taken as they are (light object on dark, the
training data's own polarity, so no inversion), with labels as int64 [N] or None; an array file
that cannot be read raises `ArrayReadError`, one bad CSV line only marks that line. An image file
that cannot be read or decoded gets an error message and the others go on.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.decode import SIZE, decode_image, pixels_to_array
from inference.errors import InputError
from inference.idx import IdxError
from inference.idx import read_idx as parse_idx_file



def decode_files(paths: list[str], invert: str) -> tuple[np.ndarray, list[str | None]]:
    """float32 [n, 28, 28] for the image files (zeros where one failed) and one error message per
    file (None where it decoded)."""
    pixels = np.zeros((len(paths), SIZE, SIZE), dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    for i, path in enumerate(paths):
        try:
            pixels[i] = decode_image(read_file(path), invert=invert)
        except InputError as exc:
            errors[i] = exc.message
        except OSError as exc:
            errors[i] = f"cannot read the file: {exc.strerror or exc}"
        except Exception as exc:  # a decoder bug on one odd file must not end a long run
            errors[i] = f"cannot decode the file: {type(exc).__name__}: {exc}"
    return pixels, errors


def read_file(path: str) -> bytes:
    """A file's bytes through the OS calls alone: a buffered `open()` costs about twice as much,
    and for a 28x28 PNG that is 5% of scoring it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class ArrayReadError(Exception):
    """A whole input file is unreadable: it becomes one error row."""


@dataclass
class ArrayInput:
    """Decoded images of one file; `errors[i]` is set where line i could not be read."""

    images: np.ndarray
    labels: np.ndarray | None
    errors: list[str | None] | None = None
    note: str | None = None  # a warning worth one line, e.g. a labels file that did not match


def is_idx(path: Path) -> bool:
    """Fashion-MNIST's file names: `...-idx3-ubyte`, `...-idx1-ubyte`, optionally `.gz`."""
    return re.search(r"idx\d-ubyte(\.gz)?$", path.name) is not None or path.suffix == ".idx"


def _read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    try:
        return parse_idx_file(path, ndim)
    except IdxError as exc:
        raise ArrayReadError(str(exc).replace(str(path), path.name, 1)) from None


def labels_path_for(images_path: Path) -> Path | None:
    """The labels file beside an images file (`t10k-images-idx3-ubyte.gz` ->
    `t10k-labels-idx1-ubyte[.gz]`), if there is one."""
    name = images_path.name
    if "images-idx3" not in name:
        return None
    stem = name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
    for candidate in (stem, stem + ".gz"):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None


def read_idx(path: Path) -> ArrayInput:
    """An IDX images file [N, 28, 28], with labels when the matching labels file sits beside it."""
    values = _read_idx(path)
    if values.ndim == 1:
        raise ArrayReadError(f"{path.name} is an IDX labels file; give the images file")
    if values.shape[1:] != (SIZE, SIZE) or values.ndim != 3:
        raise ArrayReadError(f"{path.name}: expected images of 28x28, got dimensions {list(values.shape)}")
    # uint8 / 255: the same numbers as pixels_to_array gives for integer pixels (tested).
    images = values.astype(np.float32) / 255.0
    labels, note = None, None
    labels_path = labels_path_for(path)
    if labels_path is not None:
        try:
            labels, note = _read_idx_labels(labels_path, len(images)), None
        except ArrayReadError as exc:
            note = f"labels ignored: {exc}"
    return ArrayInput(images, labels, note=note)


def _read_idx_labels(path: Path, count: int) -> np.ndarray:
    values = _read_idx(path)
    if values.shape != (count,):
        raise ArrayReadError(f"{path.name} holds {list(values.shape)} labels for {count} images")
    return values.astype(np.int64)


def read_npy(path: Path) -> ArrayInput:
    """A .npy array (N, 28, 28): uint8 on the 0..255 scale, or floats in [0, 1]."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ArrayReadError(f"cannot read {path.name}: {exc}") from None
    if array.ndim != 3 or array.shape[1:] != (SIZE, SIZE):
        raise ArrayReadError(f"{path.name}: expected shape (N, 28, 28), got {array.shape}")
    if array.dtype == np.uint8:
        return ArrayInput(np.asarray(array).astype(np.float32) / 255.0, None)
    if array.dtype.kind != "f":
        raise ArrayReadError(f"{path.name}: expected uint8 or float pixels, got {array.dtype}")
    images = np.asarray(array, dtype=np.float32)
    if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise ArrayReadError(f"{path.name}: float pixels must be finite and lie in [0, 1]")
    return ArrayInput(images, None)


def read_csv(path: Path) -> ArrayInput:
    """CSV rows of 784 pixels (0..255, or floats in [0, 1]), with a leading label column when the
    header names one or a row has 785 values. A line that does not parse is an error for that row."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArrayReadError(f"cannot read {path.name}: {exc}") from None
    header = lines[0].split(",") if lines else []
    has_header = bool(header) and not _is_number(header[0].strip())
    has_label = has_header and header[0].strip().lower() in ("label", "class", "target", "y")
    rows = [line for line in lines[1 if has_header else 0:] if line.strip()]
    if not has_header and rows:
        has_label = len(rows[0].split(",")) == SIZE * SIZE + 1
    images = np.zeros((len(rows), SIZE, SIZE), dtype=np.float32)
    labels = np.full(len(rows), -1, dtype=np.int64) if has_label else None
    errors: list[str | None] = [None] * len(rows)
    for i, line in enumerate(rows):
        try:
            values = [_number(v) for v in line.split(",")]
            if has_label:
                labels[i] = int(values.pop(0))
            images[i] = pixels_to_array(values)
        except (ValueError, InputError) as exc:
            errors[i] = f"line {i + 1 + has_header}: {getattr(exc, 'message', exc)}"
    return ArrayInput(images, labels, errors if any(errors) else None)


def _number(text: str) -> int | float:
    """Integers stay integers (0..255 scale); anything with a point or exponent is a float."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _is_number(text: str) -> bool:
    try:
        _number(text)
        return True
    except ValueError:
        return False
