"""Single-image POST /predict under gunicorn.conf.py, side by side with a bare Flask endpoint.

Both servers run the same `gunicorn -c gunicorn.conf.py` (same workers, worker class, logging
config); the bare one only swaps the WSGI app for a Flask route that reads the body and returns a
small JSON. Load comes from `wrk` (C, so the client is not the bottleneck on a small machine), with
a real Fashion-MNIST test image as a PNG body. Levels alternate between the two servers, each level
repeated, best run kept. The share of /predict time spent decoding and in the model comes from the
service's own /metrics (deltas over the run).

    .venv/bin/python benchmarks/serve_load.py [--model-dir artifacts] [--seconds 5] [--repeats 2]
    .venv/bin/python benchmarks/serve_load.py --breakdown   # in-process CPU per request, by part

Needs `wrk` (apt-get install wrk) and the real sample ($FASHION_MNIST_DIR) for the image.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %f %f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def make_bare_app():
    """The baseline: read the body, answer a small JSON (gunicorn calls this in each worker)."""
    from flask import Flask, request

    app = Flask("bare")

    @app.post("/predict")
    def predict():
        return {"bytes": len(request.get_data())}

    @app.get("/readyz")
    def readyz():
        return {"status": "ready"}

    return app


def start(name: str, env: dict, log_dir: Path, app_spec: str | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(GUNICORN), "-c", "gunicorn.conf.py"]
    if app_spec:
        command += ["--pythonpath", str(ROOT / "benchmarks"), app_spec]
    log = (log_dir / f"{name}.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PORT": str(port)},
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                time.sleep(1.0)  # let the second worker finish booting too
                return process, url
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"{name} server did not start; see {log_dir / f'{name}.log'}")


def run_wrk(url: str, concurrency: int, seconds: int, body: Path, script: Path) -> dict:
    threads = min(concurrency, 2)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", str(script), f"{url}/predict"], capture_output=True, text=True,
                         env={**os.environ, "BENCH_BODY": str(body)}, check=True).stdout
    fields = re.search(r"^RESULT (.*)$", out, re.M).group(1).split()
    count, micros, errors, bad_status = (int(v) for v in fields[:4])
    return {"rps": count / (micros / 1e6), "p50": float(fields[4]) / 1000, "p99": float(fields[5]) / 1000,
            "requests": count, "errors": errors + bad_status}


def stage_seconds(url: str) -> dict:
    """Cumulative /predict handler seconds, and their decode and model parts, from /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text

    def value(pattern: str) -> float:
        match = re.search(rf"^{pattern} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0
    return {"count": value(r'http_request_duration_seconds_count\{route="/predict"\}'),
            "total": value(r'http_request_duration_seconds_sum\{route="/predict"\}'),
            "decode": value(r'predict_stage_seconds_total\{stage="decode"\}'),
            "model": value(r'predict_stage_seconds_total\{stage="model"\}')}


def test_image_png(path: Path) -> None:
    """The first real test image, as a 28x28 grayscale PNG."""
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from training.data import load_idx

    data_dir = Path(os.environ.get("FASHION_MNIST_DIR") or ROOT.parent / "shared/data/fashion-mnist-mini")
    image = load_idx(data_dir / "t10k-images-idx3-ubyte.gz", 3)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())


def breakdown(model: Path, body: Path, count: int = 4000) -> None:
    """CPU time per request of both WSGI apps called in process (no HTTP, no gunicorn), then of
    ours with its parts switched off one after the other: what each part costs in the full flow."""
    import logging

    import numpy as np

    sys.path.insert(0, str(ROOT))
    import app.inputs
    from app import create_app

    data = body.read_bytes()
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    logging._srcfile, logging.logThreads, logging.logMultiprocessing = None, False, False  # as gunicorn.conf.py
    ours = create_app({"MODEL_DIR": model, "METRICS_DIR": body.parent})

    def cpu_us(wsgi) -> float:
        def call():
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "SERVER_NAME": "bench",
                       "SERVER_PORT": "80", "CONTENT_TYPE": "image/png", "CONTENT_LENGTH": str(len(data)),
                       "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
                       "SERVER_PROTOCOL": "HTTP/1.1"}
            b"".join(wsgi(environ, lambda *args: None))
        for _ in range(300):
            call()
        started = time.thread_time()
        for _ in range(count):
            call()
        return (time.thread_time() - started) / count * 1e6

    rows = [("bare Flask endpoint", cpu_us(make_bare_app())), ("ours, everything on", cpu_us(ours))]
    logging.getLogger("app.access").setLevel(logging.WARNING)
    rows.append(("- access log line", cpu_us(ours)))
    decoded = app.inputs.preprocess_image(data)
    app.inputs.preprocess_image = lambda *args, **kwargs: decoded
    rows.append(("- image decoding", cpu_us(ours)))
    predictor = ours.extensions["model"].predictor
    probabilities = predictor.predict(decoded[None, None])
    predictor.run = lambda batch: np.array(probabilities)
    rows.append(("- model (onnxruntime)", cpu_us(ours)))
    ours.before_request_funcs.clear()
    ours.after_request_funcs.clear()
    rows.append(("- request id, metrics, headers hooks", cpu_us(ours)))
    print("| in process | CPU µs / request | part's cost |\n| --- | --- | --- |")
    for (name, value), previous in zip(rows, [None, None] + [v for _, v in rows[1:-1]]):
        cost = f"{previous - value:.0f}" if previous is not None else ""
        print(f"| {name} | {value:.0f} | {cost} |")


def model_dir(requested: Path, work: Path) -> Path:
    if (requested / "model.onnx").is_file():
        return requested
    out = work / "artifacts"
    print(f"no model in {requested}; training the default one into {out}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "training", "--out", str(out), "--epochs", "2"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts",
                        help="model to serve (default: ./artifacts; trained on the fly if absent)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: 2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32],
                        help="wrk connections per level (default: 1 8 32)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run (default: 5)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per level and server; best kept (default: 2)")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead: CPU per request in process, by part (no HTTP, no wrk)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    body, script = work / "image.png", work / "post.lua"
    test_image_png(body)
    if args.breakdown:
        try:
            breakdown(model_dir(args.model_dir, work), body)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    script.write_text(WRK_SCRIPT)
    env = {"MODEL_DIR": str(model_dir(args.model_dir, work)), "WEB_CONCURRENCY": str(args.workers),
           "LOG_LEVEL": "info"}
    ours, ours_url = start("ours", env, work)
    bare, bare_url = start("bare", env, work, "serve_load:make_bare_app()")
    try:
        print(f"# {args.workers} gunicorn workers each, {os.cpu_count()} CPUs, wrk, {args.seconds}s x "
              f"{args.repeats} runs per level (best kept), body: one 28x28 PNG ({body.stat().st_size} bytes)")
        print("| concurrency | ours req/s | bare req/s | ratio | ours p50 / p99 ms | bare p50 / p99 ms "
              "| handler µs | decode | model | rest |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        worst = float("inf")
        for concurrency in args.concurrency:
            best = {"ours": None, "bare": None}
            before = stage_seconds(ours_url)
            for _ in range(args.repeats):
                for name, url in (("ours", ours_url), ("bare", bare_url)):
                    result = run_wrk(url, concurrency, args.seconds, body, script)
                    if best[name] is None or result["rps"] > best[name]["rps"]:
                        best[name] = result
            after = stage_seconds(ours_url)
            spent = {k: after[k] - before[k] for k in after}
            decode, model = spent["decode"] / spent["total"], spent["model"] / spent["total"]
            handler = spent["total"] / spent["count"] * 1e6
            o, b = best["ours"], best["bare"]
            ratio = o["rps"] / b["rps"]
            worst = min(worst, ratio)
            errors = f" ({o['errors']} / {b['errors']} errors)" if o["errors"] or b["errors"] else ""
            print(f"| {concurrency} | {o['rps']:.0f} | {b['rps']:.0f} | {ratio:.2f} | {o['p50']:.2f} / "
                  f"{o['p99']:.2f} | {b['p50']:.2f} / {b['p99']:.2f} | {handler:.0f} | {decode:.0%} | {model:.0%} | "
                  f"{1 - decode - model:.0%}{errors} |")
        print(f"\nworst ratio ours/bare: {worst:.2f} (target >= 0.7). decode/model/rest: shares of the "
              "/predict handler time (Flask before_request to after_request) from the service's /metrics.")
        return 0 if worst >= 0.7 else 1
    finally:
        for process in (ours, bare):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
