"""Prometheus metrics that stay correct across gunicorn workers.

Each worker keeps its samples in memory; a background thread atomically rewrites one file,
`<METRICS_DIR>/<pid>.json`, every PUBLISH_SECONDS when something changed (per request it cost a
tenth of a small request's time), and the worker publishes at exit and before it answers a scrape.
`/metrics` sums the files of all workers plus `archive.json`, into which the master folds a
worker's file when that worker exits (gunicorn's `child_exit`), so counters never go backwards when
a worker dies or is replaced. A scrape thus lags the other workers by at most PUBLISH_SECONDS; a
worker killed with SIGKILL loses at most its last PUBLISH_SECONDS of counts. Without a directory
(Flask test client, a single process) the process's own samples are served.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

FAMILIES = {
    "http_requests_total": ("counter", "HTTP requests by route, method and status."),
    "http_request_duration_seconds": ("histogram", "Request latency in seconds, by route."),
    "predictions_total": ("counter", "Images predicted, by predicted class label."),
    "predict_stage_seconds_total": ("counter", "Seconds spent in /predict by stage: decode, model."),
}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ARCHIVE = "archive.json"
PUBLISH_SECONDS = 0.5


class MetricsStore:
    """Counters and histograms of one process, shared with its siblings through `directory`."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self.samples: dict[str, float] = {}
        self._keys: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._dirty = False
        if self.directory is not None:
            threading.Thread(target=self._publish_loop, name="metrics-publisher", daemon=True).start()

    def inc(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
        self.update([(name, labels, amount)])

    def observe(self, name: str, labels: dict[str, str], value: float) -> None:
        """One histogram observation: cumulative buckets, _sum and _count."""
        self.update((), [(name, labels, value)])

    def update(self, increments: Iterable[tuple[str, dict[str, str], float]],
               observations: Iterable[tuple[str, dict[str, str], float]] = ()) -> None:
        """Counter increments and histogram observations `(name, labels, amount)` under one lock
        acquisition: a request's counts land together."""
        counters = [(self._key(name, labels), amount) for name, labels, amount in increments]
        histograms = [(self._histogram_keys(name, labels), value) for name, labels, value in observations]
        samples = self.samples
        with self._lock:
            for key, amount in counters:
                samples[key] = samples.get(key, 0.0) + amount
            for (buckets, total, count), value in histograms:
                for bound, key in buckets:
                    samples[key] = samples.get(key, 0.0) + (value <= bound)
                samples[total] = samples.get(total, 0.0) + value
                samples[count] = samples.get(count, 0.0) + 1.0
            self._dirty = True

    def _key(self, name: str, labels: dict[str, str]) -> str:
        # Sample names are built once per label set: this runs on every request.
        cache_key = (name, *labels.items())
        key = self._keys.get(cache_key)
        if key is None:
            key = self._keys[cache_key] = _key(name, labels)
        return key

    def _histogram_keys(self, name: str, labels: dict[str, str]) -> tuple:
        cache_key = (name, "histogram", *labels.items())
        keys = self._keys.get(cache_key)
        if keys is None:
            buckets = [(bound, _key(f"{name}_bucket", {**labels, "le": repr(bound)}))
                       for bound in (*BUCKETS, float("inf"))]
            buckets[-1] = (float("inf"), _key(f"{name}_bucket", {**labels, "le": "+Inf"}))
            keys = self._keys[cache_key] = (buckets, _key(f"{name}_sum", labels), _key(f"{name}_count", labels))
        return keys

    def flush(self) -> None:
        """Publish this process's samples to its file (atomic replace: readers never see half)."""
        if self.directory is None:
            return
        with self._lock:
            text = json.dumps(self.samples)
            self._dirty = False
        path = self.directory / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def _publish_loop(self) -> None:
        while True:
            time.sleep(PUBLISH_SECONDS)
            if self._dirty:
                self.flush()

    def render(self) -> str:
        """Prometheus text exposition of all workers' samples summed."""
        if self.directory is None:
            with self._lock:
                merged = dict(self.samples)
        else:
            self.flush()  # this worker's own counts are exact; its siblings' lag by PUBLISH_SECONDS
            with _locked(self.directory, fcntl.LOCK_SH):
                merged = _sum_files(sorted(self.directory.glob("*.json")))
        return _exposition(merged)


def archive_worker(directory: str | Path, pid: int) -> None:
    """Fold an exited worker's samples into the archive (run by the master in child_exit)."""
    directory = Path(directory)
    path = directory / f"{pid}.json"
    with _locked(directory, fcntl.LOCK_EX):
        if path.exists():
            archive = directory / ARCHIVE
            merged = _sum_files([archive, path])
            tmp = archive.with_suffix(".tmp")
            tmp.write_text(json.dumps(merged))
            os.replace(tmp, archive)
        for leftover in (path, path.with_suffix(".tmp")):
            leftover.unlink(missing_ok=True)


@contextmanager
def _locked(directory: Path, mode: int):
    """Readers share, the archiver is alone: a scrape never counts a worker twice or not at all."""
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sum_files(paths: list[Path]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for path in paths:
        try:
            samples = json.loads(path.read_text())
        except FileNotFoundError:  # a worker's file may be archived between glob and read
            continue
        for key, value in samples.items():
            merged[key] = merged.get(key, 0.0) + value
    return merged


def _key(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(key: str) -> str:
    name = key.split("{", 1)[0]
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in FAMILIES:
            return name[: -len(suffix)]
    return name


def _exposition(samples: dict[str, float]) -> str:
    """Group samples by family (insertion order keeps histogram buckets ascending)."""
    by_family: dict[str, list[str]] = {name: [] for name in FAMILIES}
    for key, value in samples.items():
        text = str(int(value)) if float(value).is_integer() else repr(value)
        by_family.setdefault(_family(key), []).append(f"{key} {text}")
    lines = []
    for name, rows in by_family.items():
        kind, help_text = FAMILIES.get(name, ("untyped", ""))
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *rows]
    return "\n".join(lines) + "\n"
