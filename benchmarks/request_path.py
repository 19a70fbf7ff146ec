"""CPU time per single-image POST /predict in process, with and without each hot-path trick.

    FASHION_MNIST_DIR=../shared/data/fashion-mnist-mini .venv/bin/python benchmarks/request_path.py \\
        [--model-dir artifacts] [--rounds 300] [--block 40]

The app is called as a WSGI function (no HTTP, no gunicorn) on the first real test image as a
28x28 PNG, with the access log on (a root handler writing gunicorn.conf.py's format to /dev/null),
request ids and metrics, as it runs under gunicorn. The tricks are the ones the request path had
before they were measured (commit cb0e6d5): this script keeps them in a copy of the access hooks
and the predict view (`tricked_handlers`), where each can be switched on alone, swapped into one
app before each block. The reference is that copy with every trick off, i.e. the code as it is
now; "reference again" is a second block of it, whose difference from the first is the run-to-run
noise; "app as committed" is the real hooks and view.

Variants take turns in short blocks of `--block` requests, in a new random order each round, so
that a machine shared with other jobs slows all of them alike; a variant's figure is its CPU µs per
request minus the reference's in the same round: the median over rounds, with a 95% interval for
that median (from the interquartile range: 1.96 x 1.2533 x IQR / 1.349 / sqrt(rounds)). A trick
pays when its interval lies below zero, clear of the "reference again" row.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRICKS = {
    "get_current_object": "request._get_current_object() / g._get_current_object() once per hook and view",
    "app_not_current_app": "hooks close over app; the view looks current_app up once, ready_predictor(app)",
    "prebuilt_encoder": "a JSONEncoder made once, its text put in a Response (vs returning the dict)",
    "urandom_id": "os.urandom(16).hex() request ids (vs uuid.uuid4().hex)",
    "environ_header": "environ['HTTP_X_REQUEST_ID'] (vs request.headers.get('X-Request-ID'))",
    "logging_globals": "logging._srcfile = None, logThreads = logMultiprocessing = False",
}
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def tricked_handlers(app, on: frozenset[str]) -> dict:
    """Copies of the access hooks and the predict view in which the tricks named in `on` are
    switched on (the others as the code is now), for `install`."""
    from flask import abort, current_app, g, request

    from app import metrics
    from app.access import log
    from app.inputs import decode_items, read_items
    from app.model import ready_predictor

    new_id = (lambda: os.urandom(16).hex()) if "urandom_id" in on else (lambda: uuid.uuid4().hex)
    encoder = json.JSONEncoder(separators=(",", ":"))
    own = app if "app_not_current_app" in on else None

    def start() -> None:
        ctx, req = (g._get_current_object(), request._get_current_object()) \
            if "get_current_object" in on else (g, request)
        ctx.started = time.perf_counter()
        incoming = req.environ.get("HTTP_X_REQUEST_ID", "") if "environ_header" in on \
            else req.headers.get("X-Request-ID", "")
        ctx.request_id = incoming if _SAFE_ID.fullmatch(incoming) else new_id()

    def finish(response):
        ctx, req = (g._get_current_object(), request._get_current_object()) \
            if "get_current_object" in on else (g, request)
        seconds = time.perf_counter() - ctx.get("started", time.perf_counter())
        request_id = ctx.get("request_id") or new_id()
        response.headers["X-Request-ID"] = request_id
        predictor = (own or current_app).extensions["model"].predictor
        if predictor is not None:
            response.headers["X-Model-Version"] = predictor.version
        route = req.url_rule.rule if req.url_rule is not None else "unmatched"
        status = response.status_code
        metrics.REQUESTS.labels(route, req.method, str(status)).inc()
        metrics.LATENCY.labels(route).observe(seconds)
        path = f"{req.path}?{req.query_string.decode()}" if req.query_string else req.path
        log.info('%s "%s %s" %d %d %.2fms', request_id, req.method, path, status,
                 response.calculate_content_length() or 0, seconds * 1000)
        return response

    def predict():
        if "app_not_current_app" in on:
            flask_app = current_app._get_current_object()
            predictor = flask_app.extensions["model"].predictor  # what ready_predictor(app) did
            if predictor is None:
                abort(503)
        else:
            flask_app, predictor = current_app, ready_predictor()
        settings = flask_app.extensions["model"].settings
        req = request._get_current_object() if "get_current_object" in on else request
        items, single = read_items(req, settings.max_batch)
        started = time.perf_counter()
        batch = decode_items(items, invert=settings.invert)
        decoded = time.perf_counter()
        probabilities = predictor.predict(batch)
        finished = time.perf_counter()
        predictions = predictor.to_predictions(probabilities)
        metrics.STAGE_SECONDS.labels("decode").inc(decoded - started)
        metrics.STAGE_SECONDS.labels("model").inc(finished - decoded)
        for prediction in predictions:
            metrics.PREDICTIONS.labels(prediction["label"]).inc()
        if single:
            answer = {**predictions[0], "model_version": predictor.version}
        else:
            answer = {"predictions": predictions, "model_version": predictor.version}
        if "prebuilt_encoder" in on:
            return flask_app.response_class(encoder.encode(answer) + "\n", mimetype="application/json")
        return answer

    return {"start": start, "finish": finish, "predict": predict}


def install(app, handlers: dict) -> None:
    """Swap the access hooks and the predict view: every variant runs in the same app, so that
    the variants differ in the code only, not in their model session or memory layout."""
    app.before_request_funcs[None] = [handlers["start"]]
    app.after_request_funcs[None] = [handlers["finish"]]
    app.view_functions["predict.predict"] = handlers["predict"]


def cpu_us(wsgi, body: bytes, count: int, fast_logging: bool = False) -> float:
    """CPU µs per request of `count` calls of the WSGI app on the PNG body; `fast_logging` sets
    the logging module globals for the time of the calls."""
    saved = logging._srcfile, logging.logThreads, logging.logMultiprocessing
    if fast_logging:
        logging._srcfile, logging.logThreads, logging.logMultiprocessing = None, False, False
    try:
        started = time.thread_time()
        for _ in range(count):
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "SERVER_NAME": "bench",
                       "SERVER_PORT": "80", "CONTENT_TYPE": "image/png", "CONTENT_LENGTH": str(len(body)),
                       "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
                       "SERVER_PROTOCOL": "HTTP/1.1"}
            statuses = []
            b"".join(wsgi(environ, lambda status, headers, *rest: statuses.append(status)))
            assert statuses == ["200 OK"], statuses
        return (time.thread_time() - started) / count * 1e6
    finally:
        logging._srcfile, logging.logThreads, logging.logMultiprocessing = saved


def first_test_png() -> bytes:
    from PIL import Image

    from training.data import load_idx

    data_dir = Path(os.environ.get("FASHION_MNIST_DIR") or ROOT.parent / "shared/data/fashion-mnist-mini")
    buffer = io.BytesIO()
    Image.fromarray(load_idx(data_dir / "t10k-images-idx3-ubyte.gz", 3)[0]).save(buffer, "PNG")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts", help="default: ./artifacts")
    parser.add_argument("--rounds", type=int, default=300, help="turns of every variant (default: 300)")
    parser.add_argument("--block", type=int, default=40, help="requests per variant per round (default: 40)")
    args = parser.parse_args(argv)

    from app import create_app

    handler = logging.StreamHandler(open(os.devnull, "w"))  # as gunicorn.conf.py's logconfig_dict
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)

    body = first_test_png()
    app = create_app({"MODEL_DIR": args.model_dir})
    committed = {"start": app.before_request_funcs[None][0], "finish": app.after_request_funcs[None][0],
                 "predict": app.view_functions["predict.predict"]}
    # name -> (handlers, logging globals set)
    variants = {"reference": (tricked_handlers(app, frozenset()), False)}
    variants["reference again"] = variants["reference"]
    variants["app as committed"] = (committed, False)
    for name in TRICKS:
        variants[name] = (variants["reference"][0], True) if name == "logging_globals" \
            else (tricked_handlers(app, frozenset([name])), False)
    variants["all tricks"] = (tricked_handlers(app, frozenset(TRICKS)), True)

    def run(name: str, count: int) -> float:
        handlers, fast_logging = variants[name]
        install(app, handlers)
        return cpu_us(app, body, count, fast_logging)

    for name in variants:  # warm up: codecs, onnxruntime, label children
        run(name, 100)

    base: list[float] = []
    deltas: dict[str, list[float]] = {name: [] for name in variants if name != "reference"}
    for _ in range(args.rounds):
        order = list(variants)
        random.shuffle(order)
        figures = {name: run(name, args.block) for name in order}
        base.append(figures["reference"])
        for name in deltas:
            deltas[name].append(figures[name] - figures["reference"])

    print(f"reference: {statistics.median(base):.0f} CPU µs / request (median of {args.rounds} rounds "
          f"of {args.block}); load average {os.getloadavg()[0]:.1f}")
    print("| variant | CPU µs / request vs reference (median) | 95% interval of the median |\n| --- | --- | --- |")
    for name, values in deltas.items():
        q1, median, q3 = statistics.quantiles(values, n=4)
        half = 1.96 * 1.2533 * (q3 - q1) / 1.349 / len(values) ** 0.5
        print(f"| {name} | {median:+.1f} | {median - half:+.1f} .. {median + half:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
