"""gunicorn's entry point (`app.wsgi:app`), imported in each worker after the fork: it builds the
model state, starts it under the boot policy (app/boot.py) and hands it to the factory."""
from __future__ import annotations

from app import boot
from app.factory import create_app
from app.context import build_state
from inference.errors import ModelLoadError
from inference.settings import Settings

try:
    state = build_state(Settings.from_env())
    state.start(required=boot.model_required())
except (ModelLoadError, ValueError) as exc:
    boot.fail_boot(exc)
app = create_app(state)
if state.predictor is not None:
    boot.mark_served()
