"""Find, check and load the four Fashion-MNIST files into uint8 tensors (download when absent)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from training.errors import DataError
from training.idx import load_idx

# split -> (images file, labels file), the data set's own names
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SHAPE = (28, 28)


@dataclass
class Split:
    """One split in memory: images uint8 [N, 28, 28], labels int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    train: Split
    test: Split


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
        from training.download import download  # torchvision only on this path

        download(data_dir)
    return Dataset(train=load_split(data_dir, "train"), test=load_split(data_dir, "test"))
