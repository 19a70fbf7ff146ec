"""Write the sample images in this folder from the Fashion-MNIST training split (run from the
repository root): `python samples/make_samples.py /path/to/fashion-mnist`.

One 28x28 grayscale PNG per class (the first training image of that class, pixels unchanged), and
`photo-sneaker.jpg`, a photo-like version of a sneaker: RGB, enlarged, a dark object on a light,
slightly uneven background, the way a phone picture of a product looks, so the service has to
invert and shrink it (INVERT=auto) as it does for real uploads.
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HERE = Path(__file__).resolve().parent


def file_name(label: str) -> str:
    return label.lower().replace("/", "-").replace(" ", "-")


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def photo_like(gray: np.ndarray, seed: int = 7) -> Image.Image:
    """A dark-on-light RGB picture of a 28x28 image: 8x larger, tinted, lit unevenly, a little noise."""
    big = Image.fromarray(gray).resize((224, 224), Image.BICUBIC).filter(ImageFilter.GaussianBlur(1.2))
    object_mask = np.asarray(big, dtype=np.float32) / 255.0
    yy, xx = np.mgrid[0:224, 0:224] / 223.0
    light = 0.97 - 0.05 * xx - 0.03 * yy  # a window on the left
    paper = np.stack([light * 245, light * 238, light * 225], axis=-1)  # warm white
    ink = np.array([45.0, 33.0, 26.0])  # dark brown leather
    pixels = paper * (1 - object_mask[..., None]) + ink * object_mask[..., None]
    pixels += np.random.default_rng(seed).normal(0, 3.0, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def main(data_dir: str) -> None:
    root = Path(data_dir)
    images = read_idx(next(root.glob("**/train-images-idx3-ubyte*")))
    labels = read_idx(next(root.glob("**/train-labels-idx1-ubyte*")))
    for index, label in enumerate(CLASSES):
        first = int(np.flatnonzero(labels == index)[0])
        Image.fromarray(images[first]).save(HERE / f"{file_name(label)}.png", optimize=True)
        if label == "Sneaker":
            photo_like(images[first]).save(HERE / "photo-sneaker.jpg", quality=90)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data")
