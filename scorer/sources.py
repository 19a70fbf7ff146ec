"""Find what the batch scorer is asked to score and cut it into batches, in input order.

Inputs mix freely: image files, folders (walked recursively, symlinked folders followed once, so a
link loop ends), IDX image files, .npy arrays and CSV files. Images in a folder named after a class
(`Sneaker/`, `ankle_boot/`, `T-shirt_top/`, `7/`) carry that class as their label. A path that
does not exist and a folder that cannot be read are error rows, in their place: never skipped.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from scorer.readers import ArrayInput, ArrayReadError, is_idx, read_csv, read_idx, read_npy

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".pgm", ".ppm", ".pbm", ".pnm"}
_READERS = {"idx": read_idx, "npy": read_npy, "csv": read_csv}


@dataclass
class Batch:
    """Up to batch-size images from one input. Either `pixels` (already decoded) or `paths`
    (image files still to decode) is set; `errors[i]` marks an image that has no pixels."""

    sources: list[str]
    indices: list[int | None]
    labels: list[int | None]
    pixels: np.ndarray | None = None
    paths: list[str] | None = None
    errors: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def ok(self) -> list[int]:
        """Positions of the images that have no error (usually all of them)."""
        return [i for i, error in enumerate(self.errors) if error is None]

    def results(self, ok: list[int], predictions: list[dict]) -> list[dict]:
        """One result per image: `predictions[k]` for the image at `ok[k]`, `{"error": message}`
        for each image that has no pixels. The local model and the service both answer this way."""
        if len(ok) == len(self):
            return predictions
        results: list[dict] = [{"error": error} for error in self.errors]
        for i, prediction in zip(ok, predictions):
            results[i] = prediction
        return results

    def part(self, start: int, stop: int) -> "Batch":
        """Images start..stop of the batch, as a batch of their own."""
        cut = slice(start, stop)
        return Batch(self.sources[cut], self.indices[cut], self.labels[cut],
                     None if self.pixels is None else self.pixels[cut],
                     None if self.paths is None else self.paths[cut], self.errors[cut])


@dataclass
class Source:
    """One planned input: image files (with labels), an array file, or a path that failed."""

    count: int
    files: list[tuple[str, int | None]] | None = None
    path: str | None = None
    array: ArrayInput | None = None
    error: str | None = None

    def batches(self, size: int) -> Iterator[Batch]:
        if self.error is not None:
            yield Batch([self.path], [None], [None], errors=[self.error])
        elif self.files is not None:
            for start in range(0, len(self.files), size):
                chunk = self.files[start:start + size]
                yield Batch([p for p, _ in chunk], [None] * len(chunk), [lab for _, lab in chunk],
                            paths=[p for p, _ in chunk], errors=[None] * len(chunk))
        else:
            yield from self._array_batches(size)

    def _array_batches(self, size: int) -> Iterator[Batch]:
        array = self.array
        for start in range(0, self.count, size):
            stop = min(start + size, self.count)
            labels = [None] * (stop - start) if array.labels is None else \
                [int(v) for v in array.labels[start:stop]]
            errors = [None] * (stop - start) if array.errors is None else array.errors[start:stop]
            yield Batch([self.path] * (stop - start), list(range(start, stop)), labels,
                        pixels=array.images[start:stop], errors=errors)


def kind_of(path: Path) -> str:
    """`npy`, `csv`, `idx` or `image`, from the file name."""
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".csv"):
        return "csv"
    return "idx" if is_idx(path) else "image"


def plan(inputs: list[str], classes: list[str], warn=lambda message: None) -> list[Source]:
    """The inputs in order, as sources of known size. Consecutive image files share a source."""
    sources: list[Source] = []
    pending: list[tuple[str, int | None]] = []

    def flush() -> None:
        if pending:
            sources.append(Source(len(pending), files=list(pending)))
            pending.clear()

    def fail(path: str, message: str) -> None:
        flush()
        sources.append(Source(1, path=path, error=message))

    for text in inputs:
        path = Path(text)
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as exc:  # a parent folder that cannot be searched
            fail(text, f"cannot read: {exc.strerror or exc}")
            continue
        if is_dir:
            for item in folder_files(path, classes):
                if isinstance(item, Unreadable):
                    fail(item.path, item.message)
                else:
                    pending.append(item)
        elif not exists:
            fail(text, "no such file or directory")
        elif kind_of(path) == "image":
            pending.append((text, label_from_folder(path, classes)))
        else:
            flush()
            sources.append(_read_array(path, warn))
    flush()
    return sources


def _read_array(path: Path, warn) -> Source:
    try:
        array = _READERS[kind_of(path)](path)
    except ArrayReadError as exc:
        return Source(1, path=str(path), error=str(exc))
    if array.note:
        warn(f"{path}: {array.note}")
    return Source(len(array.images), path=str(path), array=array)


@dataclass(frozen=True)
class Unreadable:
    """A folder the walk could not list: it becomes an error row where its files would be."""

    path: str
    message: str


def walk_folders(root: Path) -> Iterator[tuple[Path, list[str]] | Unreadable]:
    """Each folder under `root` with its image file names, sorted, following symlinked folders but
    entering each real folder once (a symlink loop, or two links to one folder, is walked once).
    A folder that cannot be listed (no permission, an I/O error) is an `Unreadable` in its place."""
    seen: set[tuple[int, int]] = set()
    failed: list[OSError] = []  # os.walk reports a folder it cannot list here, before moving on

    def unreadable() -> Iterator[Unreadable]:
        while failed:
            exc = failed.pop(0)
            yield Unreadable(str(exc.filename), f"cannot read the folder: {exc.strerror or exc}")

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=failed.append):
        yield from unreadable()
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs.sort()
        yield Path(folder), [name for name in sorted(files) if _is_image(name)]
    yield from unreadable()


def _is_image(name: str) -> bool:
    dot = name.rfind(".")  # Path(name).suffix's rule, without building a Path per file
    return 0 < dot < len(name) - 1 and name[dot:].lower() in IMAGE_EXTENSIONS


def folder_files(root: Path, classes: list[str]) -> Iterator[tuple[str, int | None] | Unreadable]:
    """(path text, label) of each image under `root`: `str(folder / name)` and `label_from_folder`,
    worked out once per folder rather than per file; an
    `Unreadable` where a folder could not be listed."""
    for entry in walk_folders(root):
        if isinstance(entry, Unreadable):
            yield entry
            continue
        folder, names = entry
        label = _folder_label(folder.name, tuple(classes))
        prefix = "" if str(folder) == "." else os.path.join(str(folder), "")
        yield from ((prefix + name, label) for name in names)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def label_from_folder(path: Path, classes: list[str]) -> int | None:
    """The class index named by the image's parent folder, or None. Folder names cannot hold
    `/`, so names match without case and punctuation (`T-shirt_top`, `tshirt-top`, `ankle boot`),
    by the part before a slash (`T-shirt`), or by the class index (`0`..`9`)."""
    return _folder_label(path.parent.name, tuple(classes))


@lru_cache(maxsize=1024)  # asked once per file, but folders are few
def _folder_label(folder_name: str, classes: tuple[str, ...]) -> int | None:
    folder = _key(folder_name)
    if not folder:
        return None
    for index, name in enumerate(classes):
        if folder in (_key(name), _key(name.split("/")[0]), str(index)):
            return index
    return None
