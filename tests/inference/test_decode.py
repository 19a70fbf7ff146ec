"""inference.decode on real image bytes: every PIL mode, EXIF, transparency, 16-bit, fitting, inversion,
the decompression-bomb cap, and the exact tensor training produced for a real image."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from inference.errors import InputError
from inference.decode import pixels_to_array, decode_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def real_images(fmnist_dir):
    from training.data import load_idx  # tests may use training; the app never does
    return load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)[:50]


def test_training_image_png_gives_exactly_the_training_tensor(real_images):
    from training.loop import as_float
    import torch

    expected = as_float(torch.from_numpy(real_images)).numpy()[:, 0]
    for image, want in zip(real_images, expected):
        got = decode_image(encode(Image.fromarray(image)))
        assert got.dtype == np.float32 and got.shape == (28, 28)
        assert np.array_equal(got, want)  # bit for bit, not approximately


@pytest.fixture(scope="module")
def shirt(real_images) -> np.ndarray:
    return real_images[0]


# Every mode PIL converts a grayscale image to, and a lossless format that stores it.
MODES = [("L", "PNG"), ("RGB", "PNG"), ("P", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("I", "TIFF"),
         ("CMYK", "TIFF"), ("YCbCr", "TIFF"), ("LAB", "TIFF"), ("F", "TIFF"),
         ("RGBX", "TIFF")]


@pytest.mark.parametrize("mode,fmt", MODES)
def test_every_mode_gives_the_grayscale_values(shirt, mode, fmt):
    image = Image.fromarray(shirt).convert(mode)
    got = decode_image(encode(image, fmt))
    tolerance = 1.5 / 255 if mode in ("CMYK", "LAB", "YCbCr", "P") else 1e-6
    assert np.abs(got - shirt / 255.0).max() <= tolerance


def test_bilevel_mode_1_keeps_black_and_white(shirt):
    got = decode_image(encode(Image.fromarray(shirt).convert("1")))
    assert set(np.unique(got)) <= {0.0, 1.0}


def test_16bit_grayscale_keeps_its_precision():
    values = np.linspace(0, 65535, 28 * 28).astype(np.uint16).reshape(28, 28)
    values[[0, -1], :] = values[:, [0, -1]] = 0  # a dark border: no inversion
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    got = decode_image(encode(image))
    assert np.allclose(got, values / 65535.0, atol=1e-6)


def test_transparency_is_composited_onto_a_contrasting_background():
    # A black disc on a fully transparent canvas: composited onto white, then inverted (auto).
    canvas = np.zeros((28, 28, 4), dtype=np.uint8)
    yy, xx = np.mgrid[:28, :28]
    disc = (yy - 14) ** 2 + (xx - 14) ** 2 < 64
    canvas[disc, 3] = 255
    got = decode_image(encode(Image.fromarray(canvas, "RGBA")))
    assert got[disc].min() == 1.0 and got[~disc].max() == 0.0


def test_palette_with_a_transparent_index():
    palette_image = Image.new("P", (28, 28), 0)
    palette_image.putpalette([255, 255, 255, 200, 200, 200] + [0] * 762)
    palette_image.paste(1, (8, 8, 20, 20))
    data = encode(palette_image, transparency=0)  # index 0 (white) is transparent
    got = decode_image(data)
    assert got[14, 14] > 0.7 and got[0, 0] == 0.0  # light object kept, background black


def _oriented(fmt: str, carrier: str) -> bytes:
    """A 28x28 image with a bright bar on the left whose metadata says "rotate 90 clockwise"."""
    array = np.zeros((28, 28), dtype=np.uint8)
    array[:, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    if carrier == "exif":
        return encode(Image.fromarray(array), fmt, exif=exif, **({"quality": 100} if fmt == "JPEG" else {}))
    info = PngImagePlugin.PngInfo()
    if carrier == "xmp":
        info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>')
    else:  # ImageMagick's hex text chunk
        data = b"Exif\x00\x00" + exif.tobytes()
        info.add_text("Raw profile type exif", f"\nexif\n{len(data):8}\n{data.hex()}\n")
    return encode(Image.fromarray(array), fmt, pnginfo=info)


# The PNG fast path skips exif_transpose only when none of these carriers is there.
@pytest.mark.parametrize("fmt, carrier", [("JPEG", "exif"), ("PNG", "exif"), ("PNG", "xmp"), ("PNG", "raw")])
def test_exif_orientation_is_applied(fmt, carrier):
    got = decode_image(_oriented(fmt, carrier), invert="never")
    assert got[:4, :].mean() > 0.9 and got[:, :4].mean() < 0.3  # the bar is now at the top


def test_fit_keeps_the_aspect_ratio():
    wide = np.zeros((50, 200), dtype=np.uint8)
    wide[10:40, 20:180] = 255  # 160x30 box: 4:1 wider than tall
    got = decode_image(encode(Image.fromarray(wide)))
    rows, cols = np.nonzero(got > 0.5)
    width, height = np.ptp(cols) + 1, np.ptp(rows) + 1
    assert got.shape == (28, 28) and 3.5 <= width / height <= 6.5
    assert got[0].max() < 0.05 and got[-1].max() < 0.05  # padded with the dark background


@pytest.mark.parametrize("invert,light_background,expect_inverted", [
    ("auto", True, True), ("auto", False, False), ("always", False, True), ("never", True, False)])
def test_invert(shirt, invert, light_background, expect_inverted):
    pixels = 255 - shirt if light_background else shirt
    got = decode_image(encode(Image.fromarray(pixels)), invert=invert)
    want = (1.0 - pixels / 255.0) if expect_inverted else pixels / 255.0
    assert np.allclose(got, want, atol=1e-6)


def test_unknown_invert_choice_is_a_programming_error(shirt):
    with pytest.raises(ValueError):
        decode_image(encode(Image.fromarray(shirt)), invert="sometimes")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge canvas and carries a few bytes of pixels: decoding it would fail
    as truncated (400), so a 413 proves the cap was checked before decoding."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(InputError) as caught:
        decode_image(_png_header_only(100_000, 100_000))
    assert caught.value.status == 413 and caught.value.code == "image_too_large"


def test_the_pixel_cap_is_a_parameter(shirt):
    data = encode(Image.fromarray(shirt))
    with pytest.raises(InputError) as caught:
        decode_image(data, max_pixels=28 * 28 - 1)
    assert caught.value.status == 413
    assert decode_image(data, max_pixels=28 * 28).shape == (28, 28)


@pytest.mark.parametrize("data", [b"", b"not an image", _png_header_only(28, 28)[:40],
                                  _png_header_only(28, 28)])
def test_unreadable_bytes_are_a_400(data):
    with pytest.raises(InputError) as caught:
        decode_image(data)
    assert caught.value.status == 400 and caught.value.code == "invalid_image"


def test_an_unknown_format_has_one_stable_message():
    """The same bad bytes give the same text every time (PIL's own names an object address), so
    error rows and API answers can be compared and grepped."""
    messages = set()
    for _ in range(3):
        with pytest.raises(InputError) as caught:
            decode_image(b"not an image")
        messages.add(caught.value.message)
    assert len(messages) == 1 and " at 0x" not in messages.pop()


def test_pixels_ints_are_the_0_255_scale_and_floats_the_unit_scale(shirt):
    want = shirt.astype(np.float32) / 255.0
    assert np.array_equal(pixels_to_array(shirt.tolist()), want)
    assert np.array_equal(pixels_to_array(shirt.reshape(-1).tolist()), want)
    assert np.array_equal(pixels_to_array(want.tolist()), want)
    assert pixels_to_array(np.full(784, 0.5)).dtype == np.float32


@pytest.mark.parametrize("values,code", [
    ([[0.0] * 28] * 27, "invalid_shape"),
    ([0] * 783, "invalid_shape"),
    ([[0] * 28] * 27 + [[0] * 27], "invalid_pixels"),  # ragged
    ([float("nan")] + [0.0] * 783, "invalid_pixels"),
    ([float("inf")] + [0.0] * 783, "invalid_pixels"),
    ([1.5] + [0.0] * 783, "out_of_range"),
    ([-0.1] + [0.0] * 783, "out_of_range"),
    ([256] + [0] * 783, "out_of_range"),
    ([-1] + [0] * 783, "out_of_range"),
    (["0"] * 784, "invalid_pixels"),
    ([None] * 784, "invalid_pixels"),
    ([True] * 784, "invalid_pixels"),
    ([2 ** 70] + [0] * 783, "invalid_pixels"),
    (7, "invalid_shape"),
])
def test_bad_pixel_values_are_a_422(values, code):
    with pytest.raises(InputError) as caught:
        pixels_to_array(values)
    assert caught.value.status == 422 and caught.value.code == code
