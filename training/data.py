"""Fashion-MNIST on disk and in memory: finding and loading the four files (inference/idx.py reads them),
the torchvision download, and synthetic files of the same format for tests and benchmarks.

torch is imported only where tensors are made (`load_split`): tests and benchmarks that just read
or write IDX files do not pay for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inference.idx import IdxError, read_idx, write_idx
from training.errors import DataError

if TYPE_CHECKING:
    import torch

# Class names in index order: written into model.json, where the app reads them.
CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# split -> (images file, labels file), the data set's own names
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SHAPE = (28, 28)

def load_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (raw or gzip) of unsigned bytes with `ndim` dimensions into a uint8 array."""
    try:
        return read_idx(path, ndim).copy()
    except IdxError as exc:
        raise DataError(str(exc)) from None


# --- the four files as tensors
@dataclass
class Split:
    """One split in memory: images uint8 [N, 28, 28], labels int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    train: Split
    test: Split
    # Held out of the training files (`split_validation`): what the temperature and the
    # out-of-distribution detector are fitted on. None: nothing held out.
    validation: Split | None = None


def split_validation(split: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """(the rest, the validation part): `fraction` of each class's images, drawn with `seed`, so
    every class is held out in proportion; at least one image of every class with two or more."""
    import torch

    labels = split.labels.cpu().numpy()
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held.extend(rng.permutation(members)[:count].tolist())
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    keep, hold = torch.from_numpy(np.flatnonzero(~mask)), torch.from_numpy(np.flatnonzero(mask))
    return (Split(split.images[keep], split.labels[keep]),
            Split(split.images[hold], split.labels[hold]))


def find_file(data_dir: Path, name: str) -> Path | None:
    """`name` or `name.gz`, directly in data_dir or in torchvision's `FashionMNIST/raw/`."""
    for folder in (data_dir, data_dir / "FashionMNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def missing_files(data_dir: Path) -> list[str]:
    names = [name for pair in FILES.values() for name in pair]
    return [name for name in names if find_file(data_dir, name) is None]


def load_split(data_dir: Path, split: str) -> Split:
    """Load one split, checking the image size and that image and label counts agree."""
    import torch

    image_name, label_name = FILES[split]
    image_path, label_path = find_file(data_dir, image_name), find_file(data_dir, label_name)
    for name, path in ((image_name, image_path), (label_name, label_path)):
        if path is None:
            raise DataError(f"{data_dir / name}: missing (expected {name} or {name}.gz in "
                            f"{data_dir} or {data_dir / 'FashionMNIST' / 'raw'})")
    images = load_idx(image_path, ndim=3)
    labels = load_idx(label_path, ndim=1)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path}: images are {images.shape[1]}x{images.shape[2]}, "
                        f"expected 28x28")
    if len(images) != len(labels):
        raise DataError(f"{image_path} has {len(images)} images but {label_path} has "
                        f"{len(labels)} labels; expected the same count")
    if labels.size and labels.max() > 9:
        raise DataError(f"{label_path}: label {int(labels.max())} found, expected 0..9")
    return Split(torch.from_numpy(images), torch.from_numpy(labels).long())


def load_dataset(data_dir: Path, download: bool = True) -> Dataset:
    """Both splits from data_dir, downloading them first when all four files are absent."""
    data_dir = Path(data_dir)
    missing = missing_files(data_dir)
    if missing and download and len(missing) == 4:
        download_fashion_mnist(data_dir)
    return Dataset(train=load_split(data_dir, "train"), test=load_split(data_dir, "test"))


def download_fashion_mnist(data_dir: Path) -> None:
    """Download the four files into `data_dir/FashionMNIST/raw/` through torchvision, or raise a
    DataError saying where to put them by hand."""
    hint = (f"put the four Fashion-MNIST files (train-images-idx3-ubyte.gz, "
            f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
            f"in {data_dir} (or {data_dir / 'FashionMNIST' / 'raw'}) and pass --data-dir "
            f"or set FASHION_MNIST_DIR")
    try:
        # torchvision is imported here only: it is not needed anywhere else, and a torchvision
        # build that does not match torch fails at import time.
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(root=str(data_dir), train=train, download=True)
    except Exception as e:  # noqa: BLE001 - any failure (no network, bad install) gets the hint
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{data_dir}: Fashion-MNIST files not found and download failed "
                        f"({reason}); {hint}") from None


# --- synthetic files, for tests and the speed benchmark
# Each class is a fixed random template plus per-image noise, so the classes are learnable (tests
# can check that training learns) while the files are byte-for-byte what `load_idx` reads.
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
