"""Each hot-path trick against the ordinary code it would replace, side by side in one process:
the CPU time of one `POST /predict` (a real 28x28 PNG from the sample) through the whole Flask app,
called as gunicorn calls it (the WSGI callable), with the variants taking turns.

    .venv/bin/python benchmarks/tricks.py [--model-dir artifacts] [--rounds 12] [--requests 1500]

Variants (what ships is marked in the output):
  hooks        request bookkeeping as Flask before/after_request hooks (ships)
  middleware   the same bookkeeping as WSGI middleware reading environ["werkzeug.request"]
  json-public  orjson behind Flask's public JSONProvider.dumps (ships)
  json-private orjson also replacing Flask's response(), through its private _prepare_response_obj
  json-stdlib  Flask's own JSON provider (the standard library's json)
  sort-median  the background level as the middle of the sorted border ring, by hand (ships)
  np-median    numpy's median of the border ring
  cached-ring  sort-median on the ring's flat indices cached per image shape
Each round runs every variant for --requests requests, in a rotated order; the figures are the
median over rounds of the per-request CPU time, and each variant's ratio to the shipping one,
with the range of the per-round ratios (the noise).
"""
from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MODEL_POLL_SECONDS", "0")

from flask.json.provider import DefaultJSONProvider  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from app import access, metrics  # noqa: E402
from app.context import build_state  # noqa: E402
from app.factory import create_app  # noqa: E402
from app.json_provider import OrjsonProvider  # noqa: E402
from inference import decode  # noqa: E402
from inference.settings import Settings  # noqa: E402


class Middleware:
    """The bookkeeping as WSGI middleware: the route read from the request werkzeug keeps in the
    environ while Flask handles it (the trick), instead of Flask's request proxy."""

    def __init__(self, wsgi_app, state):
        self.wsgi_app, self.state = wsgi_app, state

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        environ[access.REQUEST_ID] = "bench"
        answered = []

        def start(status, headers, exc_info=None):
            headers.append(("X-Request-ID", "bench"))
            headers.append(("X-Content-Type-Options", "nosniff"))
            headers.append(("X-Model-Version", self.state.predictor.version))
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            answered.append((status[:3], rule.rule if rule is not None else "unmatched"))
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)
        status, route = answered[-1]
        metrics.request_counter(route, environ["REQUEST_METHOD"], status).inc()
        metrics.latency_histogram(route).observe(time.perf_counter() - started)
        return body


class PrivateOrjson(OrjsonProvider):
    """orjson bytes straight into the response, skipping the str round trip, via Flask's private
    `_prepare_response_obj`."""

    def response(self, *args, **kwargs):
        import orjson

        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, default=self.default) + b"\n", mimetype=self.mimetype)


@functools.lru_cache(maxsize=64)
def _ring(height: int, width: int) -> np.ndarray:
    index = np.arange(height * width).reshape(height, width)
    return np.concatenate([index[0], index[-1], index[1:-1, 0], index[1:-1, -1]])


def cached_ring(gray: np.ndarray) -> float:
    """The ring's flat indices cached per shape and taken in one call, instead of four slices."""
    ring = gray.take(_ring(*gray.shape))
    ring.sort()
    return float(ring[len(ring) // 2])


def np_median(gray: np.ndarray) -> float:
    return float(np.median(np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])))


def build(model_dir: str, variant: str):
    state = build_state(Settings.from_env({**os.environ, "MODEL_DIR": model_dir}))
    state.start()
    app = create_app(state)
    if variant == "middleware":
        app.before_request_funcs[None].remove(access._start)
        app.after_request_funcs[None].remove(access._finish)
        app.wsgi_app = Middleware(app.wsgi_app, state)
    elif variant == "json-private":
        app.json = PrivateOrjson(app)
    elif variant == "json-stdlib":
        app.json = DefaultJSONProvider(app)
        app.json.sort_keys = False
    return app


def a_png(model_dir: str) -> bytes:
    from PIL import Image

    data = Path(os.environ.get("FASHION_MNIST_DIR", ROOT.parent / "shared/data/fashion-mnist-mini"))
    from inference.idx import read_idx

    image = read_idx(data / "t10k-images-idx3-ubyte.gz", 3)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def run(app, body: bytes, count: int, median) -> float:
    """CPU seconds per request over `count` requests."""
    original = decode._background
    decode._background = median
    builder = EnvironBuilder(method="POST", path="/predict", data=body, content_type="image/png")
    environs = [builder.get_environ() for _ in range(count)]
    for environ in environs:
        environ["wsgi.input"] = io.BytesIO(body)

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    try:
        started = time.process_time()
        for environ in environs:
            b"".join(app(environ, start_response))
        return (time.process_time() - started) / count
    finally:
        decode._background = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="artifacts")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    body = a_png(args.model_dir)
    ordinary = decode._background
    apps = {name: build(args.model_dir, name) for name in ("hooks", "middleware", "json-private", "json-stdlib")}
    variants = {  # name: (app, median, the shipping variant it is compared with)
        "hooks": (apps["hooks"], ordinary, "hooks"),
        "middleware": (apps["middleware"], ordinary, "hooks"),
        "json-public": (apps["hooks"], ordinary, "hooks"),
        "json-private": (apps["json-private"], ordinary, "hooks"),
        "json-stdlib": (apps["json-stdlib"], ordinary, "hooks"),
        "sort-median": (apps["hooks"], ordinary, "hooks"),
        "np-median": (apps["hooks"], np_median, "hooks"),
        "cached-ring": (apps["hooks"], cached_ring, "hooks"),
    }
    names = list(variants)
    for name in names:  # warm every path once
        run(variants[name][0], body, 50, variants[name][1])
    times = {name: [] for name in names}
    for round_ in range(args.rounds):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            app, median, _ = variants[name]
            times[name].append(run(app, body, args.requests, median))
    print(f"{'variant':<13} {'µs/request':>10} {'ratio to shipping':>18}  per-round range")
    for name in names:
        baseline = variants[name][2]
        ratios = [t / b for t, b in zip(times[name], times[baseline])]
        print(f"{name:<13} {statistics.median(times[name]) * 1e6:>10.1f} {statistics.median(ratios):>18.3f}"
              f"  {min(ratios):.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
