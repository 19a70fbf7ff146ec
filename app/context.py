"""What a view reaches through the app: the model state and settings it was built with
(`create_app(state)`), and the predictor one request uses from start to end."""
from __future__ import annotations

from flask import abort, current_app, g

from app import metrics
from inference.model_state import ModelState
from inference.predictor import Predictor
from inference.settings import Settings

EXTENSION = "model_state"


def build_state(settings: Settings) -> ModelState:
    """A model state whose version switches and failures show in /metrics (not started)."""
    return ModelState(settings, on_serving=metrics.record_serving, on_failure=metrics.count_load_failure)


def model_state() -> ModelState:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return model_state().settings


def ready_predictor() -> Predictor:
    """The predictor this request uses from start to end (a version switch in between does not
    change it), or a 503 for the client while there is none."""
    predictor = g.get("predictor")
    if predictor is None:
        predictor = model_state().predictor
        if predictor is None:
            abort(503, description="the model is not loaded yet")
        g.predictor = predictor  # also names the version in X-Model-Version (app/access.py)
    return predictor


def served_versions() -> list[str]:
    """The versions a client may name (the v2 protocol's `versions`, as in Triton): the one this
    worker has loaded, by its repository folder number (a plain MODEL_DIR is version "1")."""
    predictor = model_state().predictor
    return [] if predictor is None else [str(predictor.number)]


def predictor_for(version: str | None) -> tuple[str, Predictor]:
    """The predictor for `version` (None: the serving one) and its version; a 404 for a version
    this worker does not serve, a 503 while no model is loaded."""
    predictor = ready_predictor()
    if version is not None and version != str(predictor.number):
        abort(404, description=f"model version {version!r} is not served; serving version {predictor.number} "
                               "(MODEL_VERSION pins another)")
    return str(predictor.number), predictor
