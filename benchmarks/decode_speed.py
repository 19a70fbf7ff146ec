"""Decode µs per image: Pillow against libspng (pyspng) and libjpeg-turbo (simplejpeg), alone and
inside decode_image (`fast=True`, the default, against `fast=False`, the Pillow path).

    FASHION_MNIST_DIR=../shared/data/fashion-mnist-mini .venv/bin/python benchmarks/decode_speed.py

Images: the first real test image as the 570-byte 28x28 PNG of benchmarks/serve_load.py, the same
as a quality-95 JPEG, and a 1000x1000 RGB photo-like JPEG (the test image scaled up, with noise).
Contenders take turns, 5 rounds, the fastest round counts (CPU time of this thread).
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pyspng
import simplejpeg
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from inference.decode import decode_image  # noqa: E402
from serve_load import test_image_png  # noqa: E402


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pillow(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


def cpu_us(function, data: bytes, count: int) -> float:
    started = time.thread_time()
    for _ in range(count):
        function(data)
    return (time.thread_time() - started) / count * 1e6


def main() -> int:
    work = Path("/tmp") / "decode-speed.png"
    test_image_png(work)
    png = work.read_bytes()
    shirt = Image.open(io.BytesIO(png))
    rng = np.random.default_rng(0)
    big = np.asarray(shirt.convert("RGB").resize((1000, 1000), Image.Resampling.BICUBIC)).astype(np.int16)
    big = Image.fromarray(np.clip(big + rng.integers(-20, 20, big.shape), 0, 255).astype(np.uint8))
    cases = [
        (f"28x28 PNG ({len(png)} bytes)", png, 5000, [
            ("Pillow open+load", pillow), ("pyspng.load", pyspng.load),
            ("decode_image, Pillow path", lambda d: decode_image(d, fast=False)),
            ("decode_image, fast path", decode_image)]),
    ]
    for name, image, count in [("28x28 gray JPEG", shirt, 5000), ("1000x1000 RGB JPEG", big, 30)]:
        data = encode(image, "JPEG", quality=95)
        colorspace = "GRAY" if image.mode == "L" else "RGB"
        cases.append((f"{name} ({len(data)} bytes)", data, count, [
            ("Pillow open+load", pillow), ("simplejpeg.decode_jpeg",
                                           lambda d, c=colorspace: simplejpeg.decode_jpeg(d, colorspace=c)),
            ("decode_image, Pillow path", lambda d: decode_image(d, fast=False)),
            ("decode_image, fast path", decode_image)]))
    print("| image | decoder | CPU µs per image (best of 5) |\n| --- | --- | --- |")
    for name, data, count, contenders in cases:
        best = {label: float("inf") for label, _ in contenders}
        for label, function in contenders:
            cpu_us(function, data, max(count // 10, 3))  # warm-up
        for _ in range(5):
            for label, function in contenders:
                best[label] = min(best[label], cpu_us(function, data, count))
        for label, _ in contenders:
            print(f"| {name} | {label} | {best[label]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
