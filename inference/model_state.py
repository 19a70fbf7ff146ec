"""Where the served version switches: a worker's model state, which repository version serves,
which failed and why, and the switch to a newer one while requests go on.

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

from typing import Callable

from PIL import Image

from inference.errors import ModelLoadError
from inference.predictor import Predictor
from inference.decode import decode_image
from inference.repository import Version, list_versions, newest_valid
from inference.settings import Settings

log = logging.getLogger(__name__)


class ModelState:
    """The serving predictor of one worker, and what it knows of the repository's versions."""

    def __init__(self, settings: Settings, *,
                 on_serving: Callable[[Predictor | None, Predictor], None] | None = None,
                 on_failure: Callable[[int], None] | None = None) -> None:
        """`on_serving(previous, current)` runs after each switch, `on_failure(number)` after each
        version that failed its checks (the HTTP app counts both in its metrics)."""
        self.settings = settings
        self._on_serving = on_serving or (lambda previous, current: None)
        self._on_failure = on_failure or (lambda number: None)
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
                    self._on_failure(version.number)
                    continue
                self.failures.pop(version.number, None)
                previous, old_predictor = self.serving, self.predictor
                self.predictor, self.serving, self._serving_stamp = predictor, version, stamp
                self._on_serving(old_predictor, predictor)
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

    def start(self, *, required: bool = True) -> None:
        """Load the first version, then look for new ones every MODEL_POLL_SECONDS. With
        `required=False` a failed first load leaves the state up, not ready, retrying at each poll
        (a replacement worker of a server that has served: it must not take the others down)."""
        try:
            self.load()
        except ModelLoadError as exc:
            if required:
                raise
            seconds = self.settings.model_poll_seconds
            retry = (f"retrying every {seconds:g}s" if seconds > 0
                     else "MODEL_POLL_SECONDS=0: not retrying until restarted")
            log.error("not ready: %s; %s", exc, retry)
        if self.settings.model_poll_seconds > 0:
            self.watch(self.settings.model_poll_seconds)

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


def _warm_up_decoding(invert: str) -> None:
    """Decode one PNG: PIL loads its codecs on first use, which the first client would otherwise
    wait for."""
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "PNG")
    decode_image(buffer.getvalue(), invert=invert)
