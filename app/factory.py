"""The HTTP service: `create_app(state)` builds the Flask app around a model state that the entry
point (app/wsgi.py, or a test) has built and started."""
from __future__ import annotations

from flask import Flask

from app import access, auth, error_handlers
from app.context import EXTENSION
from app.json_provider import OrjsonProvider
from app.routes import docs, explain, health, metadata, metrics, page, predict, v2
from inference.model_state import ModelState


def create_app(state: ModelState) -> Flask:
    """The app serving `state` (loaded or not: an unloaded one answers 503 until it loads)."""
    app = Flask(__name__, static_folder=None)  # the page's blueprint serves its own files, with its CSP
    app.config["MAX_CONTENT_LENGTH"] = state.settings.max_upload_bytes
    app.json = OrjsonProvider(app)  # keys in insertion order: probabilities in class-index order
    app.extensions[EXTENSION] = state
    access.init_app(app)
    auth.init_app(app, state.settings.api_keys)  # after access: a 401 gets its request id
    error_handlers.init_app(app)
    for blueprint in (predict.bp, explain.bp, health.bp, metadata.bp, metrics.bp, page.bp, v2.bp, docs.bp):
        app.register_blueprint(blueprint)
    return app
