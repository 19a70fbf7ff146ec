"""inference.c_decoders against Pillow on a corpus of every accepted mode: the fast path takes exactly the
plain 8-bit PNG and gray/YCbCr JPEG cases, and decode_image gives the same tensor bit for bit
whichever decoder ran. Images are generated with Pillow (and one interlaced PNG by hand, which
Pillow cannot write)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from inference import c_decoders
from inference.errors import InputError
from inference.decode import decode_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def interlaced_png(pixels: np.ndarray) -> bytes:
    """An Adam7 PNG (8-bit gray or RGB), every scanline with filter type 0."""
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    raw = b""
    for ys, xs, dy, dx in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2),
                           (0, 1, 2, 2), (1, 0, 2, 1)]:
        sub = pixels[ys::dy, xs::dx]
        if sub.shape[0] and sub.shape[1]:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 1)
    return (c_decoders.PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """The PNG with one more chunk right after IHDR."""
    end = 8 + 25
    return png[:end] + chunk(kind, body) + png[end:]


rng = np.random.default_rng(0)


def picture(height: int, width: int) -> np.ndarray:
    """A light blob on a dark background with noise: edges, gradients and every level."""
    yy, xx = np.mgrid[:height, :width]
    blob = np.exp(-(((yy - height / 2) / (height / 4)) ** 2 + ((xx - width / 2) / (width / 4)) ** 2))
    return np.clip(blob * 230 + rng.normal(0, 20, (height, width)), 0, 255).astype(np.uint8)


def colour(height: int, width: int) -> np.ndarray:
    base = picture(height, width)[:, :, None].astype(np.int16)
    return np.clip(base + rng.integers(-60, 60, (height, width, 3)), 0, 255).astype(np.uint8)


def alpha_of(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray.astype(np.int16) * 2, 0, 255).astype(np.uint8)


SIZES = [(28, 28), (17, 31), (1, 1), (3, 200), (300, 420)]


def png_corpus():
    """(name, bytes, fast path expected) for every PNG kind an upload can be."""
    for h, w in SIZES:
        gray, rgb = picture(h, w), colour(h, w)
        yield f"L {h}x{w}", encode(Image.fromarray(gray)), True
        yield f"LA {h}x{w}", encode(Image.fromarray(np.dstack([gray, alpha_of(gray)]), "LA")), True
        yield f"RGB {h}x{w}", encode(Image.fromarray(rgb)), True
        yield f"RGBA {h}x{w}", encode(Image.fromarray(np.dstack([rgb, alpha_of(gray)]), "RGBA")), True
        yield f"light RGB {h}x{w}", encode(Image.fromarray(255 - rgb)), True
        yield f"L interlaced {h}x{w}", interlaced_png(gray), True
        yield f"RGB interlaced {h}x{w}", interlaced_png(rgb), True
        yield f"P {h}x{w}", encode(Image.fromarray(rgb).convert("P")), False
        yield f"P transparency {h}x{w}", encode(Image.fromarray(rgb).convert("P"), transparency=0), False
        yield f"L transparency {h}x{w}", encode(Image.fromarray(gray), transparency=0), False
        yield f"RGB transparency {h}x{w}", encode(Image.fromarray(rgb), transparency=(0, 0, 0)), False
        yield f"I;16 {h}x{w}", encode(Image.fromarray(gray.astype(np.uint16) * 257)), False
        yield f"1 {h}x{w}", encode(Image.fromarray(gray).convert("1")), False
    gray = picture(28, 28)
    plain = encode(Image.fromarray(gray))
    yield "gAMA", with_chunk(plain, b"gAMA", struct.pack(">I", 45455)), True
    yield "sBIT", with_chunk(plain, b"sBIT", b"\x05"), True
    yield "text", with_chunk(plain, b"tEXt", b"Software\0our test"), True
    yield "private chunk", with_chunk(plain, b"prVt", b"x"), False
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>')
    yield "XMP orientation", encode(Image.fromarray(gray), pnginfo=info), False
    exif = Image.Exif()
    exif[0x0112] = 6
    yield "eXIf orientation", encode(Image.fromarray(gray), exif=exif), False
    yield "2-bit", encode(Image.fromarray(gray // 64 * 85).convert("P"), bits=2), False


def jpeg_corpus():
    """(name, bytes, fast path expected) for JPEG uploads."""
    exif = Image.Exif()
    exif[0x0112] = 6
    for h, w in SIZES:
        gray, rgb = Image.fromarray(picture(h, w)), Image.fromarray(colour(h, w))
        yield f"gray {h}x{w}", encode(gray, "JPEG", quality=95), True
        yield f"RGB 4:2:0 {h}x{w}", encode(rgb, "JPEG", quality=95), True
        yield f"RGB 4:4:4 {h}x{w}", encode(rgb, "JPEG", quality=90, subsampling=0), True
        yield f"RGB 4:2:2 {h}x{w}", encode(rgb, "JPEG", quality=75, subsampling=1), True
        yield f"progressive {h}x{w}", encode(rgb, "JPEG", quality=95, progressive=True), True
        yield f"CMYK {h}x{w}", encode(rgb.convert("CMYK"), "JPEG", quality=95), False
        yield f"EXIF rotated {h}x{w}", encode(rgb, "JPEG", quality=95, exif=exif), False


PNGS = list(png_corpus())
JPEGS = list(jpeg_corpus())


@pytest.mark.parametrize("name,data,fast", PNGS + JPEGS, ids=[c[0] for c in PNGS + JPEGS])
def test_fast_path_gives_the_pillow_tensor_bit_for_bit(name, data, fast):
    """PNG and JPEG alike: libspng and Pillow's zlib give the same bytes; simplejpeg and Pillow both
    run libjpeg-turbo with its default accurate integer IDCT and fancy upsampling, so the JPEG
    tolerance measured is 0 too (a different IDCT would differ by a few levels)."""
    assert (c_decoders.decode(data, 10 ** 8) is not None) == fast  # the path under test really ran
    for invert in ("auto", "never", "always"):
        want = decode_image(data, invert=invert, fast=False)
        got = decode_image(data, invert=invert)
        assert got.dtype == want.dtype == np.float32 and got.shape == (28, 28)
        assert np.array_equal(got, want)


def test_rgb_to_gray_matches_pillow_on_a_million_colours():
    colours = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    data = encode(Image.fromarray(colours), compress_level=0)
    assert c_decoders.decode(data, 10 ** 8) is not None
    assert np.array_equal(decode_image(data, invert="never"), decode_image(data, invert="never", fast=False))


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header claims another size."""
    data = bytearray(encode(Image.fromarray(picture(16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("data,size", [
    (c_decoders.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
     + chunk(b"IDAT", zlib.compress(b"\0" * 64)), "100000x100000"),
    (_jpeg_claiming(60_000, 60_000), "60000x60000"),
], ids=["png", "jpeg"])
def test_the_pixel_cap_is_checked_from_the_header_on_the_fast_path(data, size):
    """Both files hold a few bytes of pixels: decoding would fail (400), so a 413 proves the cap
    came from the header, in the fast path itself."""
    with pytest.raises(InputError) as caught:
        c_decoders.decode(data, 50_000_000)
    assert caught.value.status == 413 and size in caught.value.message
    with pytest.raises(InputError) as caught:
        decode_image(data)
    assert caught.value.status == 413


def test_dimensions_come_from_the_header_and_only_for_png_and_jpeg():
    png = encode(Image.fromarray(picture(20, 30)))
    assert c_decoders.dimensions(png) == (30, 20)
    assert c_decoders.dimensions(encode(Image.fromarray(picture(20, 30)), "JPEG")) == (30, 20)
    assert c_decoders.dimensions(png[:30]) is None  # cut inside IHDR: Pillow's to judge
    assert c_decoders.dimensions(encode(Image.fromarray(picture(20, 30)), "BMP")) is None


@pytest.mark.parametrize("data", [
    encode(Image.fromarray(picture(28, 28)))[:60],
    encode(Image.fromarray(picture(28, 28)), "JPEG")[:200],
    b"\xff\xd8\xff\xe0garbage",
], ids=["truncated png", "truncated jpeg", "garbage jpeg"])
def test_damaged_files_fall_back_to_pillow_and_its_400(data):
    assert c_decoders.decode(data, 10 ** 8) is None
    with pytest.raises(InputError) as caught:
        decode_image(data)
    assert caught.value.status == 400 and caught.value.code == "invalid_image"


def test_real_test_images_as_png_give_the_training_tensor(test_images):
    """All 300 real test images: the fast path, the Pillow path and training's uint8 / 255 agree
    bit for bit."""
    from training.loop import as_float
    import torch

    expected = as_float(torch.from_numpy(test_images)).numpy()[:, 0]
    assert len(test_images) == 300
    for image, want in zip(test_images, expected):
        data = encode(Image.fromarray(image))
        assert c_decoders.decode(data, 10 ** 8) is not None
        assert np.array_equal(decode_image(data), want)
        assert np.array_equal(decode_image(data, fast=False), want)


@pytest.mark.slow  # trains the session's model when no other test has
def test_real_test_images_as_jpeg_give_the_same_predictions(test_images, trained_model_dir):
    from inference.predictor import Predictor

    predictor = Predictor.load(trained_model_dir, backend="onnx", device="cpu", threads=1)
    jpegs = [encode(Image.fromarray(image), "JPEG", quality=95) for image in test_images]
    fast = np.stack([decode_image(data) for data in jpegs])[:, None]
    pillow = np.stack([decode_image(data, fast=False) for data in jpegs])[:, None]
    assert np.abs(fast - pillow).max() == 0.0
    assert np.array_equal(predictor.predict(fast).argmax(1), predictor.predict(pillow).argmax(1))
