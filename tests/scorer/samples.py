"""Real input files for the batch scorer's tests, made from the real Fashion-MNIST sample:
IDX files (written by training's own IDX writer, an independent implementation), .npy, CSV and
image files of several formats in folders named after the classes."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from training.data import load_idx, write_idx

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
FOLDER_NAMES = ["T-shirt_top", "trouser", "Pullover", "dress", "COAT", "sandal", "Shirt", "sneaker",
                "bag", "ankle boot"]  # spelled as people do: case, space, no slash


def real_sample(fmnist_dir: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` real test images (uint8 [n, 28, 28]) and labels, every class included."""
    images = load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)
    labels = load_idx(fmnist_dir / "t10k-labels-idx1-ubyte.gz", 1)
    rank = np.zeros(len(labels), dtype=np.int64)  # position of each image within its class
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(len(members))
    order = np.lexsort((labels, rank))[:count]  # classes interleaved: 0..9, 0..9, ...
    return images[order], labels[order].astype(np.int64)


def write_idx_pair(folder: Path, images: np.ndarray, labels: np.ndarray | None,
                   gz: bool = True) -> Path:
    """`sample-images-idx3-ubyte[.gz]`, with the labels file beside it when labels are given."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    path = write_idx(folder / f"sample-images-idx3-ubyte{suffix}", images)
    if labels is not None:
        write_idx(folder / f"sample-labels-idx1-ubyte{suffix}", labels.astype(np.uint8))
    return path


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray | None, header: bool = True) -> Path:
    """The Kaggle layout: `label,pixel1,...,pixel784` (label column only when labels are given)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow((["label"] if labels is not None else [])
                            + [f"pixel{i}" for i in range(1, 785)])
        for i, image in enumerate(images):
            writer.writerow(([int(labels[i])] if labels is not None else []) + image.reshape(-1).tolist())
    return path


def write_class_folders(root: Path, images: np.ndarray, labels: np.ndarray,
                        formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """One 28x28 grayscale file per image under `root/<class folder>/`, formats taken in turn."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / FOLDER_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:04d}.{formats[i % len(formats)]}"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


@contextmanager
def small_disk(folder: Path, size: str = "64k") -> Iterator[Path]:
    """A real file system of `size` bytes mounted at `folder` (tmpfs): writes past it fail with
    ENOSPC as on a full disk. Needs root (CI and the dev machines run as root); skips only where
    mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Fill the file system under `folder` until a write fails (ENOSPC)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def unprivileged(command: list[str]) -> list[str]:
    """`command` run so that file permissions hold for it: as root (which ignores them), under
    setpriv without the two capabilities that bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): cannot make a folder unreadable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
