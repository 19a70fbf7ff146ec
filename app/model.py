"""The worker's model: which repository version serves, which failed and why, and the switch to a
newer one while requests go on.

Each worker loads the best valid version after the fork, warms it up, then looks at the repository
every MODEL_POLL_SECONDS: a new version is loaded and warmed up beside the serving one and then
swapped in with one assignment, so a request that already holds the old predictor finishes on it.
A version that fails any check is skipped (one log line, a metric) and retried only once its files
change; the worker keeps serving the best valid version it has.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path

from flask import Flask, abort, current_app, request
from PIL import Image

from app import access, metrics
from app.errors import ModelLoadError
from app.predictor import Predictor
from app.preprocess import preprocess_image
from app.repository import Version, list_versions, newest_valid
from app.settings import Settings

log = logging.getLogger(__name__)


class ModelState:
    """The serving predictor of one worker, and what it knows of the repository's versions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.predictor: Predictor | None = None
        self.serving: Version | None = None
        self._serving_stamp: tuple | None = None
        self.failures: dict[int, tuple[tuple, str]] = {}  # version -> (fingerprint, reason)
        self._lock = threading.Lock()
        self._decoders_warm = False

    @property
    def root(self) -> Path:
        return self.settings.model_root

    def candidates(self) -> list[Version]:
        """The versions this worker may serve, newest first (only the pinned one if MODEL_VERSION)."""
        pin = self.settings.model_version
        return [v for v in list_versions(self.root) if not pin or v.number == pin]

    def load(self) -> Predictor:
        """The first load: the best valid version, or ModelLoadError saying why there is none."""
        if not self.refresh():
            newest_valid(self.root, self.settings.model_backend, self.settings.model_version)
            raise ModelLoadError("no valid model version: " + "; ".join(
                f"version {number}: {reason}" for number, (_, reason) in sorted(self.failures.items())))
        return self.predictor

    def refresh(self) -> bool:
        """Serve the newest valid candidate, loading it unless it already serves. Returns whether a
        model serves. The serving one stays when nothing better loads, even if its folder is gone."""
        with self._lock:
            for version in self.candidates():
                stamp = version.fingerprint()
                if version == self.serving and stamp == self._serving_stamp:
                    return True
                failed = self.failures.get(version.number)
                if failed is not None and failed[0] == stamp:
                    continue
                try:
                    predictor = self._load(version)
                except ModelLoadError as exc:
                    self.failures[version.number] = (stamp, str(exc))
                    log.error("model version %d skipped: %s", version.number, exc)
                    _count_failure(version.number)
                    continue
                self.failures.pop(version.number, None)
                previous, old_predictor = self.serving, self.predictor
                self.predictor, self.serving, self._serving_stamp = predictor, version, stamp
                _record_serving(old_predictor, predictor)
                log.info("ready: model version %d (%s), backend %s, device %s%s", version.number,
                         predictor.version, predictor.backend, predictor.device,
                         f"; was version {previous.number}" if previous else "")
                return True
            return self.predictor is not None

    def _load(self, version: Version) -> Predictor:
        s = self.settings
        predictor = Predictor.load(version.path, backend=s.model_backend, device=s.device,
                                   threads=s.threads_per_worker, number=version.number)
        predictor.warm_up()
        if not self._decoders_warm:
            _warm_up_decoding(s.invert)
            self._decoders_warm = True
        return predictor

    def watch(self, seconds: float) -> threading.Thread:
        """Look for new, changed or removed versions every `seconds`, in a daemon thread."""
        def poll() -> None:
            while True:
                time.sleep(seconds)
                try:
                    self.refresh()
                except Exception:  # a bug must not end the polling for the worker's lifetime
                    log.exception("model repository poll failed")

        thread = threading.Thread(target=poll, name="model-poll", daemon=True)
        thread.start()
        return thread

    def statuses(self) -> list[dict]:
        """Every version on disk, newest first: serving, available (its files check out) or
        failed (with the reason), as /v1/models/fashion-mnist lists them."""
        rows = []
        pin = self.settings.model_version
        for version in list_versions(self.root):
            row = {"version": version.number}
            failed = self.failures.get(version.number)
            if version == self.serving and self.predictor is not None:
                row.update(status="serving", model_version=self.predictor.version)
            elif failed is not None and failed[0] == version.fingerprint():
                row.update(status="failed", reason=failed[1])
            else:
                try:
                    meta = Predictor.check_files(version.path, self.settings.model_backend)
                    row.update(status="available", model_version=meta["version"])
                except ModelLoadError as exc:
                    row.update(status="failed", reason=str(exc))
            if pin and version.number != pin and row["status"] == "available":
                row["note"] = f"not served: MODEL_VERSION={pin}"
            rows.append(row)
        return rows


def init_app(app: Flask, settings: Settings, load: bool = True, required: bool = True) -> None:
    """Attach the model state and load it. `required=False` keeps a worker up, not ready, when no
    valid version exists yet (a replacement worker of a server that has served: it must not take the
    others down); `load=False` leaves it unloaded (tests of the not-ready answers)."""
    state = ModelState(settings)
    app.extensions["model"] = state
    if not load:
        return
    try:
        state.load()
    except ModelLoadError as exc:
        if required:
            raise
        retry = (f"retrying every {settings.model_poll_seconds:g}s" if settings.model_poll_seconds > 0
                 else "MODEL_POLL_SECONDS=0: not retrying until restarted")
        log.error("not ready: %s; %s", exc, retry)
    if settings.model_poll_seconds > 0:
        state.watch(settings.model_poll_seconds)


def ready_predictor() -> Predictor:
    """The predictor this request uses from start to end (a version switch in between does not
    change it), or a 503 for the client while there is none."""
    environ = request.environ
    predictor = environ.get(access.PREDICTOR)
    if predictor is None:
        predictor = current_app.extensions["model"].predictor
        if predictor is None:
            abort(503, description="the model is not loaded yet")
        environ[access.PREDICTOR] = predictor  # also names the version in X-Model-Version
    return predictor


def served_versions() -> list[str]:
    """The versions a client may name (the v2 protocol's `versions`, as in Triton): the one this
    worker has loaded, by its repository folder number (a plain MODEL_DIR is version "1")."""
    predictor = current_app.extensions["model"].predictor
    return [] if predictor is None else [str(predictor.number)]


def predictor_for(version: str | None) -> tuple[str, Predictor]:
    """The predictor for `version` (None: the serving one) and its version; a 404 for a version
    this worker does not serve, a 503 while no model is loaded."""
    predictor = ready_predictor()
    if version is not None and version != str(predictor.number):
        abort(404, description=f"model version {version!r} is not served; serving version {predictor.number} "
                               "(MODEL_VERSION pins another)")
    return str(predictor.number), predictor


def _record_serving(previous: Predictor | None, current: Predictor) -> None:
    if previous is not None:
        metrics.SERVING.labels(str(previous.number), previous.version).set(0)
    metrics.SERVING.labels(str(current.number), current.version).set(1)


def _count_failure(number: int) -> None:
    metrics.LOAD_FAILURES.labels(str(number)).inc()


def _warm_up_decoding(invert: str) -> None:
    """Decode one PNG: PIL loads its codecs on first use, which would otherwise cost the first
    client about 15 ms."""
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "PNG")
    preprocess_image(buffer.getvalue(), invert=invert)
