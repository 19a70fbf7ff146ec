"""Model versions under a real gunicorn: a new version rolls out to every worker under load with no
failed request; a broken version or a broken model folder never takes the server down."""
from __future__ import annotations

import io
import os
import shutil
import signal
import threading
import time

import numpy as np
import requests
from PIL import Image

from tests.integration.conftest import wait_until
from tests.model_versions import add_version, break_version, version_id

POLL = "0.2"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.arange(784).reshape(28, 28) % 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


class Load:
    """Threads posting one PNG in a loop, recording (time, status, model version) of every answer."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url, self.answers, self.errors = url, [], []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        body, session = _png(), requests.Session()
        while not self._stop.is_set():
            try:
                r = session.post(f"{self.url}/predict", data=body, headers={"Content-Type": "image/png"},
                                 timeout=10)
                self.answers.append((time.monotonic(), r.status_code, r.headers.get("X-Model-Version")))
            except requests.RequestException as exc:
                self.errors.append(repr(exc))

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def versions_since(self, moment: float) -> set:
        return {version for at, _, version in list(self.answers) if at >= moment}


def test_a_new_version_rolls_out_under_load_with_no_failed_request(gunicorn_server, trained_model_dir, tmp_path):
    repo = tmp_path / "repo"
    one = version_id(add_version(trained_model_dir, repo, 1, tag="one"))
    server = gunicorn_server(tmp_path / "unused", workers=2,
                             env={"MODEL_REPOSITORY": str(repo), "MODEL_POLL_SECONDS": POLL})
    with Load(server.url) as load:
        time.sleep(1.0)
        published = time.monotonic()
        two = version_id(add_version(trained_model_dir, repo, 2, tag="two"))
        # Both workers switched: for a while, every answer comes from version 2.
        assert wait_until(lambda: time.monotonic() - published > 1.5
                          and load.versions_since(time.monotonic() - 1.0) == {two})
    statuses = {status for _, status, _ in load.answers}
    seen = {version for _, _, version in load.answers}
    first_two = min(at for at, _, version in load.answers if version == two)
    print(f"\nswitch: {len(load.answers)} requests, first answer from version 2 "
          f"{(first_two - published) * 1000:.0f} ms after it appeared")
    assert load.errors == [] and statuses == {200}, (load.errors[:3], statuses)
    assert seen == {one, two}
    assert requests.get(f"{server.url}/readyz").json()["serving_version"] == 2


def test_a_replacement_worker_skips_a_broken_newest_version(gunicorn_server, trained_model_dir, tmp_path):
    repo = tmp_path / "repo"
    one = version_id(add_version(trained_model_dir, repo, 1, tag="one"))
    server = gunicorn_server(tmp_path / "unused", workers=2,
                             env={"MODEL_REPOSITORY": str(repo), "MODEL_POLL_SECONDS": POLL})
    break_version(add_version(trained_model_dir, repo, 2, tag="two"))
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids())
    assert wait_until(lambda: server.log().count("ready: model version 1") >= 3), server.log()
    answers = [requests.post(f"{server.url}/predict", data=_png(), headers={"Content-Type": "image/png"})
               for _ in range(20)]
    assert {(r.status_code, r.headers["X-Model-Version"]) for r in answers} == {(200, one)}
    assert server.process.poll() is None and "model version 2 skipped" in server.log()
    versions = requests.get(f"{server.url}/v1/models/fashion-mnist").json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(2, "failed"), (1, "serving")]


def test_a_model_replaced_in_place_and_a_lost_worker_do_not_stop_the_server(gunicorn_server, trained_model_dir,
                                                                           tmp_path):
    # The first round's probe: a new model.onnx copied beside the old model.json, then a worker lost.
    model = shutil.copytree(trained_model_dir, tmp_path / "model")
    server = gunicorn_server(model, workers=2, env={"MODEL_POLL_SECONDS": POLL})
    good = (model / "model.onnx").read_bytes()
    break_version(model)
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids())
    time.sleep(2.0)
    assert server.process.poll() is None, server.log()  # the arbiter did not halt
    assert "not ready:" in server.log()
    # The surviving worker still serves the model it holds; the copy finishes and all are ready.
    (model / "model.onnx").write_bytes(good)
    assert wait_until(lambda: all(
        requests.post(f"{server.url}/predict", json={"image": [0] * 784}).status_code == 200
        for _ in range(10)))
