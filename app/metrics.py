"""The service's Prometheus metrics, and the registry a scrape reads.

Under gunicorn, gunicorn.conf.py gives each start a fresh PROMETHEUS_MULTIPROC_DIR before it forks,
so prometheus_client runs in multiprocess mode: every worker writes its counts into memory-mapped
files in that folder as they happen, a scrape sums the files of all workers (the dead ones too),
and a worker killed with SIGKILL keeps what it counted. Outside gunicorn (the Flask test client,
`flask run`) the variable is unset and the process's ordinary registry is served.
"""
from __future__ import annotations

import functools
import os
import time
from typing import Callable, Iterable

import numpy as np

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, multiprocess

# The ordinary registry would add a `_created` gauge beside each counter and histogram; the
# multiprocess collector has none. Left out, /metrics shows the same families either way.
disable_created_metrics()
# Finer than prometheus_client's default at the low end: a single-image request takes milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("http_requests_total", "HTTP requests by route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("http_request_duration_seconds", "Request latency in seconds, by route.",
                    ["route"], buckets=BUCKETS)
PREDICTIONS = Counter("predictions_total", "Images predicted, by predicted class label.", ["label"])
STAGE_SECONDS = Counter("predict_stage_seconds_total",
                        "Seconds spent predicting (/predict and v2 infer) by stage: decode, model.", ["stage"])
# 1 for the version each live worker serves (livemax: 1 while any worker still serves it, so a
# roll-out shows both versions until the last worker switched), 0 for one it served before.
SERVING = Gauge("model_serving_info", "Model version being served: repository version and model.json version.",
                ["version", "model_version"], multiprocess_mode="livemax")
# The drift signal: what the model thinks of the images it is sent, beside how fast it answers.
# ood_score is 0 on average for held-out clothing and about 1 at the usual threshold (model.json's
# ood.threshold); photos and noise score tens to thousands.
OOD_BUCKETS = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 25.0, 50.0, 100.0, 1000.0)
CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
OOD_SCORE = Histogram("prediction_ood_score", "Out-of-distribution score of each predicted image "
                      "(higher: less like Fashion-MNIST).", buckets=OOD_BUCKETS)
CONFIDENCE = Histogram("prediction_confidence", "Calibrated probability of the predicted class, per image.",
                       buckets=CONFIDENCE_BUCKETS)
FLAGGED = Counter("out_of_distribution_total", "Images flagged as out of distribution, by route.", ["route"])
LOAD_FAILURES = Counter("model_load_failures_total", "Model versions that failed a check when loaded, by version.",
                        ["version"])


# The labelled children, looked up once per label set (prometheus_client's advice: labels() takes a
# lock and builds a key at each call). The label sets are bounded: route patterns, methods,
# statuses, stages, class names.
request_counter = functools.cache(REQUESTS.labels)
latency_histogram = functools.cache(LATENCY.labels)
_prediction_counter = functools.cache(PREDICTIONS.labels)
_flagged_counter = functools.cache(FLAGGED.labels)
_DECODE_SECONDS, _MODEL_SECONDS = STAGE_SECONDS.labels("decode"), STAGE_SECONDS.labels("model")


def timed_predict(predictor, decode: Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """`decode()` then the model, each stage's time counted, whichever route serves the request:
    (the model's batch, its probabilities, its ood scores or None)."""
    started = time.perf_counter()
    batch = decode()
    decoded = time.perf_counter()
    probabilities, scores = predictor.infer(batch)
    finished = time.perf_counter()
    _DECODE_SECONDS.inc(decoded - started)
    _MODEL_SECONDS.inc(finished - decoded)
    return batch, probabilities, scores


def count_predictions(labels: Iterable[str]) -> None:
    for label in labels:
        _prediction_counter(label).inc()


def observe_trust(route: str, confidences: Iterable[float], scores: Iterable[float] | None,
                  flagged: int) -> None:
    """Each image's confidence and ood score into the histograms, the flagged ones counted by route
    (a model without the detector adds confidences only). Python floats, not numpy scalars: a
    numpy float32 would turn the histogram's running sum into numpy arithmetic for good."""
    for confidence in confidences:
        CONFIDENCE.observe(confidence)
    if scores is not None:
        for score in scores:
            OOD_SCORE.observe(score)
    if flagged:
        _flagged_counter(route).inc(flagged)


def record_serving(previous, current) -> None:
    """A version switch (ModelState's on_serving): the new version's gauge up, the old one's down."""
    if previous is not None:
        SERVING.labels(str(previous.number), previous.version).set(0)
    SERVING.labels(str(current.number), current.version).set(1)


def count_load_failure(number: int) -> None:
    """A version that failed its checks (ModelState's on_failure)."""
    LOAD_FAILURES.labels(str(number)).inc()


def scrape_registry() -> CollectorRegistry:
    """All workers' files in multiprocess mode, else this process's own registry."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
