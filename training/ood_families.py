"""Images that are not clothing, as the model sees them (float32 [N, 28, 28] in [0, 1]): what the
detector's AUROC is measured against. Nothing here is ever fitted on.

Photos and digits go through the server's own decoding (inference.decode: grayscale, inversion
when the background is light, padding to a square, resize to 28x28) from PNG bytes, as an upload
would. Noise needs only numpy; the digits need scikit-learn and the photos scikit-image (both in
the dev extra): a family whose package is missing is left out, and model.json names the ones used.
"""
from __future__ import annotations

import io

import numpy as np

from inference.decode import decode_image

# scikit-image's offline images (no download). Some were looked at while the detector was chosen
# (SEEN), so figures on them are optimistic; benchmarks/ood_eval.py reports the others apart.
SEEN_PHOTOS = ("camera", "chelsea", "astronaut", "coffee", "coins", "moon", "page", "text", "rocket",
               "horse", "brick", "grass", "gravel", "clock", "hubble_deep_field", "immunohistochemistry",
               "retina", "checkerboard", "logo", "colorwheel", "shepp_logan_phantom", "microaneurysms", "cell")


def decoded(arrays) -> np.ndarray:
    """uint8 images (gray, RGB or RGBA) through PNG and the server's decoder: [N, 28, 28]."""
    from PIL import Image

    out = []
    for array in arrays:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(array)).save(buffer, "PNG")
        out.append(decode_image(buffer.getvalue(), invert="auto"))
    return np.stack(out).astype(np.float32)


def to_uint8(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    span = image.max() - image.min()
    return np.round(255 * (image - image.min()) / (span if span > 0 else 1)).astype(np.uint8)


def noise(count: int = 300, seed: int = 123) -> dict[str, np.ndarray]:
    """Uniform noise, Gaussian noise of random level and spread, salt on black."""
    rng = np.random.default_rng(seed)
    level, spread = rng.uniform(0.1, 0.6, (count, 1, 1)), rng.uniform(0.05, 0.35, (count, 1, 1))
    salt = rng.uniform(0, 1, (count, 28, 28)) < rng.uniform(0.02, 0.5, (count, 1, 1))
    families = {"noise_uniform": rng.uniform(0, 1, (count, 28, 28)),
                "noise_gaussian": np.clip(rng.normal(level, spread, (count, 28, 28)), 0, 1),
                "noise_salt": salt.astype(np.float64)}
    return {name: decoded(to_uint8_01(images)) for name, images in families.items()}


def to_uint8_01(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def digits(layout: str = "full") -> np.ndarray:
    """scikit-learn's 1,797 handwritten 8x8 digits, light on dark: `full` scaled to the whole
    28x28 square; `mnist` scaled to 20x20 and centred with a 4-pixel margin, as MNIST lays them out."""
    from PIL import Image
    from sklearn.datasets import load_digits

    images = to_uint8_01(load_digits().images / 16.0)
    if layout == "full":
        return decoded(images)
    out = np.zeros((len(images), 28, 28), np.float32)
    for i, image in enumerate(images):
        small = Image.fromarray(image).resize((20, 20), Image.LANCZOS)
        out[i, 4:24, 4:24] = np.asarray(small, np.float32) / 255
    return out


def photo(name: str) -> np.ndarray:
    import skimage.data

    return to_uint8(getattr(skimage.data, name)())


def photos(names=SEEN_PHOTOS) -> np.ndarray:
    """Whole photos, decoded as an upload of each would be."""
    return decoded(photo(name) for name in names)


def crops(names=SEEN_PHOTOS, per_photo: int = 40, seed: int = 123) -> np.ndarray:
    """Random square crops of the photos (a sixteenth to a half of the short side), decoded."""
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        image = photo(name)
        h, w = image.shape[:2]
        short = min(h, w)
        for _ in range(per_photo):
            size = int(rng.integers(max(16, short // 10), max(17, short // 2 + 1)))
            y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            out.append(image[y:y + size, x:x + size])
    return decoded(out)


def available() -> dict[str, np.ndarray]:
    """The families training measures the detector against: noise always; digits and photos when
    their package is installed."""
    families = noise()
    try:
        families["digits"] = digits()
    except ImportError:
        pass
    try:
        families["photos"] = photos()
    except ImportError:
        pass
    return families
