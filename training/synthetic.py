"""Synthetic Fashion-MNIST-shaped data in the real IDX format, for tests and the speed benchmark.

Each class is a fixed random template plus per-image noise, so the classes are learnable (tests
can check that training learns) while the files are byte-for-byte what `load_idx` reads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data import FILES
from training.idx import write_idx


def synthetic_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [count, 28, 28], labels uint8 [count]), classes in turn."""
    templates = np.random.default_rng(1234).integers(0, 180, size=(10, 28, 28), dtype=np.int16)
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = np.empty((count, 28, 28), dtype=np.uint8)
    for start in range(0, count, 10_000):  # in chunks: 70,000 images stay well under 100 MB
        part = labels[start:start + 10_000]
        noise = rng.integers(0, 76, size=(len(part), 28, 28), dtype=np.int16)
        images[start:start + len(part)] = templates[part] + noise
    return images, labels


def write_synthetic(folder: Path, train: int = 600, test: int = 300, gz: bool = True) -> Path:
    """Write the four standard files (gzip when `gz`) into `folder`; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, count, seed in (("train", train, 1), ("test", test, 2)):
        images, labels = synthetic_split(count, seed)
        image_name, label_name = FILES[split]
        write_idx(folder / f"{image_name}{suffix}", images)
        write_idx(folder / f"{label_name}{suffix}", labels)
    return folder
