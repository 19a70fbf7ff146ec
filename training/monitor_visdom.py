"""`--visdom URL`: the run's curves live in a Visdom environment, the seeds' way (`viz.line`), and
at the end the sample grid (predict_ch3) and the confusion matrix.

Windows: `loss` (the batch loss every --log-every batches, and the epoch's mean train loss, over
epochs), `accuracy` (train and test per epoch), `samples`, `confusion`, `summary` (the model's
version, hyperparameters and final metrics).
"""
from __future__ import annotations

import contextlib
import html
import logging
import queue
import threading
from urllib.parse import urlsplit

import numpy as np
import requests

from training.monitor import EPOCH_METRICS, RunEnd

DEFAULT_PORT = 8097  # visdom.server's
REACH_TIMEOUT_S = 3.0
# Updates waiting for a slow server before the dashboard gives up (a few epochs of batch points),
# and how long the end of a run waits for the last of them.
BACKLOG = 1000
DRAIN_TIMEOUT_S = 60.0


def server_parts(url: str) -> tuple[str, int, str]:
    """http://host:8097/base -> ("http://host", 8097, "/base"), as visdom.Visdom takes them; a URL
    without a port means Visdom's 8097, one without a scheme http."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise ValueError(f"{url!r} is not a server URL (http://host:port)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}", parts.port or DEFAULT_PORT, parts.path.rstrip("/") or "/"


class VisdomMonitor:
    """One Visdom environment per run; raises (ConnectionError, ValueError) when the server cannot
    be reached, which `Monitors` turns into one warning line.

    Each update is one HTTP request that waits for the server: 16 ms a point against a local server
    on a 2-core dev machine, so the 23 batch points of a full-data epoch (0.17 s of training) would
    triple its time if the loop sent them. A thread of its own sends them, in order; the loop only
    queues. A send that fails, or a backlog the server does not drain, is raised at the next call
    (and at close), for `Monitors` to warn about.
    """

    def __init__(self, url: str, env: str) -> None:
        from visdom import Visdom

        server, port, base_url = server_parts(url)
        self.where = f"{server}:{port}{base_url.rstrip('/')} env {env}"
        # Visdom's client posts without a timeout; a quick look first turns "nobody there" into one
        # clear error. Any HTTP answer will do: a server without its frontend scripts answers its
        # page with an error and still takes the client's data.
        try:
            requests.get(f"{server}:{port}{base_url.rstrip('/')}/", timeout=REACH_TIMEOUT_S)
        except requests.RequestException as e:
            raise ConnectionError(f"no Visdom server answers ({type(e).__name__})") from None
        # Without the incoming socket (events from the browser, unused here) the client logs a
        # warning on every start: not ours to show.
        logging.getLogger("visdom").setLevel(logging.ERROR)
        self.env = env
        self.viz = Visdom(server=server, port=port, base_url=base_url, env=env,
                          raise_exceptions=True, use_incoming_socket=False)
        self._updates: queue.Queue = queue.Queue(maxsize=BACKLOG)
        self._failed: Exception | None = None
        self._sender = threading.Thread(target=self._send, name="visdom-sender", daemon=True)
        self._sender.start()

    def _send(self) -> None:
        while (update := self._updates.get()) is not None:
            if self._failed is None:  # after a failure, drain without sending
                send, args, kwargs = update
                try:
                    send(*args, **kwargs)
                except Exception as e:  # noqa: BLE001 - handed to the training thread
                    self._failed = e

    def _later(self, send, *args, **kwargs) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            self._updates.put_nowait((send, args, kwargs))
        except queue.Full:
            self._failed = ConnectionError(f"the server takes too long: {BACKLOG} updates waiting")
            raise self._failed from None

    def _point(self, window: str, trace: str, x: float, y: float, title: str, ylabel: str) -> None:
        self._later(self.viz.line, Y=np.array([y]), X=np.array([x]), win=window, env=self.env,
                    update="append", name=trace, opts={"title": title, "xlabel": "epoch", "ylabel": ylabel,
                                        "showlegend": True})

    def on_batch(self, step: int, epoch: float, loss: float) -> None:
        self._point("loss", "train (batch)", epoch, loss, "loss", "cross-entropy")

    def on_epoch(self, metrics: dict) -> None:
        epoch = metrics["epoch"]
        self._point("loss", "train", epoch, metrics["train_loss"], "loss", "cross-entropy")
        self._point("accuracy", "train", epoch, metrics["train_acc"], "accuracy", "accuracy")
        self._point("accuracy", "test", epoch, metrics["test_acc"], "accuracy", "accuracy")

    def on_end(self, end: RunEnd) -> None:
        self._later(self.viz.image, end.samples_image.transpose(2, 0, 1), win="samples", env=self.env,
                    opts={"title": "test images: true / predicted (wrong in red)"})
        accuracy = float(np.trace(end.confusion)) / max(1, int(end.confusion.sum()))
        # Plotly draws a heatmap's first row at the bottom: reversed, the first class is on top and
        # the diagonal runs down from the top left, as in confusion.png.
        self._later(self.viz.heatmap, end.confusion[::-1], win="confusion", env=self.env,
                    opts={"title": f"confusion (accuracy {accuracy:.3f})",
                          "xlabel": "predicted", "ylabel": "true",
                          "rownames": list(end.classes)[::-1], "columnnames": list(end.classes)})
        last = end.epochs[-1]
        rows = [("version", end.version), *end.hyperparameters.items(),
                *((key, f"{last[key]:.4f}") for key in EPOCH_METRICS)]
        table = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in rows)
        self._later(self.viz.text, f"<table>{table}</table>", win="summary", env=self.env,
                    opts={"title": "run"})
        # Kept on the server's disk (its -env_path), so the run is still there after a restart.
        self._later(self.viz.save, [self.env])

    def close(self) -> None:
        """Waits for the updates still queued (up to DRAIN_TIMEOUT_S), unless sending has failed
        already; raises if it has failed."""
        if self._failed is None:
            try:
                self._updates.put(None, timeout=DRAIN_TIMEOUT_S)
                self._sender.join(DRAIN_TIMEOUT_S)
            except queue.Full:
                pass
            if self._sender.is_alive():
                self._failed = ConnectionError(
                    f"the server took over {DRAIN_TIMEOUT_S:.0f} s for the last updates")
        else:
            with contextlib.suppress(queue.Full):
                self._updates.put_nowait(None)  # the sender drains what is left without sending
        if not self._sender.is_alive():
            self.viz.session.close()
        if self._failed is not None:
            raise self._failed
