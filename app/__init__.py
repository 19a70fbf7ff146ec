"""Fashion-MNIST serving app: `create_app` builds the Flask app (gunicorn calls it in each worker)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # flask costs ~0.1 s to import: the batch scorer, which imports app.*, never needs it
    from flask import Flask


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Build the app from the environment; `test_config` overrides settings by their environment
    names (e.g. {"MODEL_DIR": path, "MAX_BATCH": 4}); {"LOAD_MODEL": False} leaves the model unloaded,
    {"MODEL_REQUIRED": False} keeps the app up, not ready, when no valid model version exists."""
    from flask import Flask

    from app import access, error_handlers, model
    from app.routes import docs, health, metadata, metrics, page, predict, v2
    from app.json_provider import OrjsonProvider
    from app.settings import Settings

    overrides = dict(test_config or {})
    load_model = bool(overrides.pop("LOAD_MODEL", True))
    model_required = bool(overrides.pop("MODEL_REQUIRED", True))
    settings = Settings.from_env({**os.environ, **{k: str(v) for k, v in overrides.items()}})

    app = Flask(__name__, static_folder=None)  # the page's blueprint serves its own files, with its CSP
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json = OrjsonProvider(app)  # keys in insertion order: probabilities in class-index order
    error_handlers.init_app(app)
    for blueprint in (predict.bp, health.bp, metadata.bp, metrics.bp, page.bp, v2.bp, docs.bp):
        app.register_blueprint(blueprint)
    model.init_app(app, settings, load=load_model, required=model_required)
    app.wsgi_app = access.RequestLog(app.wsgi_app, app.extensions["model"])
    return app
