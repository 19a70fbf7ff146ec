"""The linear model's templates as one labelled PNG, drawn with Pillow and numpy (matplotlib is not
in the serving image): one 28x28 tile per class on a diverging colour map, one scale for all, and a
colour bar. The page's heatmap (app/static/page/page.js) uses the same colours."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Blue (negative) through near-white (zero) to red (positive), ColorBrewer's RdBu reversed: the
# anchors sit at -1, -0.5, 0, 0.5 and 1 of the scale. page.js holds the same list.
ANCHORS = np.array([[5, 48, 97], [146, 197, 222], [247, 247, 247], [244, 165, 130], [103, 0, 31]], float)
_STOPS = np.linspace(-1.0, 1.0, len(ANCHORS))
ZOOM, GAP, COLUMNS, LABEL = 4, 10, 5, 18  # pixels per weight, between tiles, tiles per row, label band
BAR = 14  # the colour bar's height


def diverging(values: np.ndarray, scale: float) -> np.ndarray:
    """uint8 RGB [..., 3] of `values` on [-scale, scale] (values beyond it take the end colours)."""
    t = np.clip(np.asarray(values, float) / (scale or 1.0), -1.0, 1.0)
    return np.stack([np.interp(t, _STOPS, ANCHORS[:, channel]) for channel in range(3)], axis=-1) \
        .round().astype(np.uint8)


def render_templates(weights: np.ndarray, classes: list[str]) -> bytes:
    """PNG bytes of the templates [C, 28, 28], titled with the class names, with a colour bar
    labelled by the common scale (the largest |weight|)."""
    scale = float(np.abs(weights).max())
    tile = weights.shape[-1] * ZOOM
    rows = -(-len(classes) // COLUMNS)
    width = COLUMNS * tile + (COLUMNS + 1) * GAP
    bar_top = rows * (tile + LABEL + GAP) + GAP
    height = bar_top + BAR + LABEL + GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for index, (template, name) in enumerate(zip(weights, classes)):
        left = GAP + (index % COLUMNS) * (tile + GAP)
        top = GAP + (index // COLUMNS) * (tile + LABEL + GAP)
        draw.text((left + tile / 2, top + LABEL / 2), name, fill="black", font=font, anchor="mm")
        pixels = np.kron(diverging(template, scale), np.ones((ZOOM, ZOOM, 1), np.uint8))
        canvas.paste(Image.fromarray(pixels, "RGB"), (left, top + LABEL))
    bar_width = width - 2 * GAP
    ramp = diverging(np.linspace(-scale, scale, bar_width)[None, :].repeat(BAR, axis=0), scale)
    canvas.paste(Image.fromarray(ramp, "RGB"), (GAP, bar_top))
    for fraction, text, anchor in ((0.0, f"-{scale:.3g}", "la"), (0.5, "0", "ma"), (1.0, f"+{scale:.3g}", "ra")):
        draw.text((GAP + fraction * bar_width, bar_top + BAR + 3), text, fill="black", font=font, anchor=anchor)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def _font():
    try:
        return ImageFont.load_default(size=13)  # Pillow's own scalable font, when built with FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()
