"""The worker's model: loaded after the fork, warmed up, then marked ready for /readyz and /predict."""
from __future__ import annotations

import io
import logging

from flask import Flask, abort, current_app
from PIL import Image

from app.predictor import Predictor
from app.preprocess import preprocess_image
from app.settings import Settings

log = logging.getLogger(__name__)


class ModelState:
    """Holds the Predictor once it has loaded and passed a warm-up prediction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.predictor: Predictor | None = None

    def load(self) -> Predictor:
        """Load and warm up; raises ModelLoadError (naming the file) on a missing or corrupt model."""
        s = self.settings
        predictor = Predictor.load(s.model_dir, backend=s.model_backend, device=s.device,
                                   threads=s.threads_per_worker)
        predictor.warm_up()
        _warm_up_decoding(s.invert)
        self.predictor = predictor
        log.info("ready: model %s, backend %s, device %s", predictor.version, predictor.backend,
                 predictor.device)
        return predictor


def init_app(app: Flask, settings: Settings, load: bool = True) -> None:
    """Attach the model state; `load=False` leaves it unloaded (tests of the not-ready answers)."""
    state = ModelState(settings)
    app.extensions["model"] = state
    if load:
        state.load()


def ready_predictor() -> Predictor:
    """The loaded predictor, or a 503 for the client while there is none."""
    predictor = current_app.extensions["model"].predictor
    if predictor is None:
        abort(503, description="the model is not loaded yet")
    return predictor


def served_versions(app: Flask | None = None) -> list[str]:
    """The model versions a client may name (the v2 protocol's `versions`, as in Triton's model
    repository). A plain MODEL_DIR serves its one model as version "1"; the model repository of
    issue 10 replaces this and `predictor_for` with its version folders."""
    return ["1"]


def predictor_for(version: str | None, app: Flask | None = None) -> tuple[str, Predictor]:
    """The version served for `version` (None: the server's choice) and its loaded predictor; a 404
    for a version not served, a 503 while the model is not loaded."""
    versions = served_versions(app)
    if version is None:
        version = versions[-1]
    elif version not in versions:
        abort(404, description=f"model version {version!r} is not served; versions: {', '.join(versions)}")
    return version, ready_predictor()


def _warm_up_decoding(invert: str) -> None:
    """Decode one PNG: PIL loads its codecs on first use, which would otherwise cost the first
    client about 15 ms."""
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "PNG")
    preprocess_image(buffer.getvalue(), invert=invert)
