"""Single-image POST /predict under gunicorn.conf.py, side by side with a bare Flask endpoint.

Both servers run the same `gunicorn -c gunicorn.conf.py` (same workers, worker class, logging
config); the bare one only swaps the WSGI app for a Flask route that reads the body and returns a
small JSON. Load comes from `wrk` (C, so the client is not the bottleneck on a small machine), with
a real Fashion-MNIST test image as a PNG body. At each level, each run of one server is paired with
a run of the other, the two taken in alternating 1 s slices (ours, bare, ours, ...: both see the same
machine, whose load from other jobs moves within seconds); the ratio of each pair is reported
(lowest and highest). Server
CPU per request comes from /proc (master and workers, user + system); its decode and model parts
from those stages timed alone in the served code. Each worker's share of ours is counted from the
access log lines (their pid), and of both servers from each worker's CPU time. Both servers write
gunicorn's access line (gunicorn.conf.py's logger, app/worker.py); ours also sets request ids and
counts metrics.

    .venv/bin/python benchmarks/serve_load.py [--model-dir artifacts] [--seconds 5] [--repeats 3]
    .venv/bin/python benchmarks/serve_load.py --breakdown   # in-process CPU per request, by part
    .venv/bin/python benchmarks/serve_load.py --served-parts --repeats 4   # what each part costs, served
    .venv/bin/python benchmarks/serve_load.py --calibrate   # ours against ours: the machine's noise
    .venv/bin/python benchmarks/serve_load.py --baseline-root /tmp/main --request v2-fp32-json
        # this checkout against another (an export of main): a change's cost, request by request

Needs `wrk` (apt-get install wrk) and the real sample ($FASHION_MNIST_DIR) for the image. With
API_KEY=<key> in the environment the servers require that key and every request sends it.
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
import threading
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
local key = os.getenv("API_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %f %f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


# Run in the served checkout: CPU µs of the two stages of a request alone, on the benchmark's image.
STAGE_CPU = """
import sys, time
from pathlib import Path
from inference.decode import decode_batch
from inference.predictor import Predictor
data = Path(sys.argv[1]).read_bytes()
predictor = Predictor.load(Path(sys.argv[2]), backend="onnx", device="cpu", threads=1)
batch = decode_batch([data], invert="auto")
def cpu_us(function, count=3000):
    for _ in range(300):
        function()
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for _ in range(count):
            function()
        best = min(best, (time.thread_time() - started) / count * 1e6)
    return best
print(cpu_us(lambda: decode_batch([data], invert="auto")), cpu_us(lambda: predictor.predict(batch)))
"""


def stage_cpu(root: Path, body: Path, model: str) -> tuple[float, float]:
    """CPU µs per image of decoding and of the model, measured in `root`'s code (best of 3)."""
    out = subprocess.run([sys.executable, "-c", STAGE_CPU, str(body), model], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


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


def make_ours_without(parts: str):
    """Ours (app.wsgi) with parts switched off, for --served-parts; `parts` is a comma-separated
    list of: model (`predictor.run` returns the probabilities of the benchmark's image), decode
    (the view gets the image's batch without decoding the body, which it still reads), metrics
    (no Prometheus counter or histogram is written)."""
    import numpy as np

    from app import inputs, metrics
    from app.routes import predict
    from app.wsgi import app

    batch = inputs.decode_batch([Path(os.environ["BENCH_BODY"]).read_bytes()], invert="auto")
    predictor = app.extensions["model"].predictor
    for part in parts.split(","):
        if part == "model":
            probabilities = predictor.predict(batch)
            predictor.run = lambda _: np.array(probabilities)
        elif part == "decode":
            predict.decode_batch = lambda *args, **kwargs: batch
        elif part == "metrics":  # app/access.py and the view look these up in app.metrics at each call
            uncounted = type("Uncounted", (), {"inc": lambda self, *a: None, "observe": lambda self, *a: None})()
            metrics.request_counter = metrics.latency_histogram = lambda *labels: uncounted
            metrics.record_prediction = lambda *args: None
        else:
            raise ValueError(f"parts are model, decode or metrics, not {part!r}")
    return app


def start(name: str, env: dict, log_dir: Path, app_spec: str | None = None,
          root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """`gunicorn -c gunicorn.conf.py` in `root` (this checkout, or another one to compare with). With
    API_KEY set, the server requires it (API_KEYS) and wrk sends it: the key check is measured too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(GUNICORN), "-c", "gunicorn.conf.py"]
    if app_spec:
        command += ["--pythonpath", str(ROOT / "benchmarks"), app_spec]
    log = (log_dir / f"{name}.log").open("w")
    keys = {"API_KEYS": os.environ["API_KEY"]} if os.environ.get("API_KEY") else {}
    process = subprocess.Popen(command, cwd=root, env={**os.environ, **keys, **env, "PORT": str(port)},
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                time.sleep(2.0)  # let the other workers finish booting too
                return process, url
        except requests.RequestException:  # not listening yet, or too slow on a loaded machine
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


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user + system CPU seconds of each process."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    return times


def connection_counts(pids: list[int], port: int) -> dict[int, int]:
    """Established connections to `port` each process holds (its socket fds in /proc/net/tcp)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            established.add(fields[9])
    counts = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            held += target.startswith("socket:[") and target[8:-1] in established
        counts[pid] = held
    return counts


def access_counts(log: Path, start: int) -> tuple[dict[int, int], int]:
    """Access lines per worker pid written to the server log since byte `start`, and the new end."""
    with log.open("rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    counts: dict[int, int] = {}
    for pid in re.findall(r"\[(\d+)\] INFO gunicorn\.access", text):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts, start + len(text.encode())


def shares(counts: dict[int, float], pids: list[int]) -> str:
    total = sum(counts.get(pid, 0) for pid in pids) or 1
    return "/".join(f"{counts.get(pid, 0) / total:.0%}" for pid in pids)


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
    """CPU time per request of both WSGI apps called in process (no HTTP, no gunicorn, so no access
    line: gunicorn writes it), then of ours with its parts switched off one after the other: what
    each part costs in the full flow."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import app.predict_inputs
    from app import create_app

    data = body.read_bytes()
    ours = create_app({"MODEL_DIR": model, "MODEL_POLL_SECONDS": 0})

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
    decoded = app.predict_inputs.decode_image(data)
    app.predict_inputs.decode_image = lambda *args, **kwargs: decoded
    rows.append(("- image decoding", cpu_us(ours)))
    predictor = ours.extensions["model"].predictor
    probabilities = predictor.predict(decoded[None, None])
    predictor.run = lambda batch: np.array(probabilities)
    rows.append(("- model (onnxruntime)", cpu_us(ours)))
    ours.wsgi_app = ours.wsgi_app.wsgi_app  # app/access.py's middleware taken off
    rows.append(("- request id, headers, metrics middleware", cpu_us(ours)))
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


def measure(server: subprocess.Popen, url: str, log: Path | None, concurrency: int, seconds: int,
            body: Path, script: Path) -> dict:
    """One wrk run (one slice), with the server's CPU time, its connections per worker (sampled
    half-way through) and its access lines per worker."""
    pids = worker_pids(server.pid)
    offset = log.stat().st_size if log else 0
    cpu_before = cpu_seconds(pids + [server.pid])
    held: dict[int, int] = {}
    sampler = threading.Timer(seconds / 2, lambda: held.update(connection_counts(pids, int(url.rsplit(":", 1)[1]))))
    sampler.start()
    result = run_wrk(url, concurrency, seconds, body, script)
    sampler.join()
    cpu_after = cpu_seconds(pids + [server.pid])
    result.update(pids=pids, held=held,
                  spent={pid: cpu_after[pid] - cpu_before[pid] for pid in cpu_after},
                  lines=access_counts(log, offset)[0] if log else None)
    return result


def _per_pid_total(slices: list[dict], key: str) -> dict[int, float]:
    """The slices' per-process values under `key`, summed by pid."""
    total: dict[int, float] = {}
    for s in slices:
        for pid, value in s[key].items():
            total[pid] = total.get(pid, 0) + value
    return total


def combine(slices: list[dict]) -> dict:
    """One run from its slices: requests and CPU summed, latencies the median over slices, shares
    over the whole run, connections as held in the first slice."""
    pids = slices[0]["pids"]
    requests = sum(s["requests"] for s in slices)
    spent = _per_pid_total(slices, "spent")
    result = {"rps": requests / sum(s["requests"] / s["rps"] for s in slices),
              "p50": sorted(s["p50"] for s in slices)[len(slices) // 2],
              "p99": sorted(s["p99"] for s in slices)[len(slices) // 2],
              "requests": requests, "errors": sum(s["errors"] for s in slices),
              "connections": "/".join(str(slices[0]["held"].get(pid, 0)) for pid in pids),
              "cpu_us": sum(spent.values()) / max(requests, 1) * 1e6, "cpu_shares": shares(spent, pids),
              "request_shares": "", "lowest_share": None}
    if slices[0]["lines"] is not None:
        lines = _per_pid_total(slices, "lines")
        result["request_shares"] = shares(lines, pids)
        result["lowest_share"] = min(lines.get(pid, 0) for pid in pids) / max(sum(lines.values()), 1)
    return result


def take_turns(servers: list[tuple], concurrency: int, args, body: Path, script: Path) -> list[dict]:
    """One run of each (server, url, access log or None), taken in alternating slices (first,
    second, ..., first, ...) so that all see the same machine: on a shared machine the load from
    other jobs moves within seconds, and back-to-back 5 s runs then compare different machines."""
    taken: list[list] = [[] for _ in servers]
    for _ in range(max(1, args.seconds // args.slice_seconds)):
        for (server, url, log), into in zip(servers, taken):
            into.append(measure(server, url, log, concurrency, args.slice_seconds, body, script))
    return [combine(slices) for slices in taken]


def served_parts(env: dict, work: Path, args, body: Path, script: Path) -> int:
    """Ours with parts switched off, and bare, under the same gunicorn config, measured in
    alternating slices (the order rotated from one repeat to the next): what each part costs a
    served request, in CPU and in the ratio to bare."""
    specs = {"ours": None,
             "without the model": "serve_load:make_ours_without('model')",
             "without decoding": "serve_load:make_ours_without('decode')",
             "without decoding, model": "serve_load:make_ours_without('decode,model')",
             "without decoding, model, metrics": "serve_load:make_ours_without('decode,model,metrics')",
             "bare": "serve_load:make_bare_app()"}
    servers = {}
    try:
        for index, (name, spec) in enumerate(specs.items()):
            servers[name] = start(f"server{index}", env, work, spec, root=args.app_root)
        for _, url in servers.values():
            run_wrk(url, 8, 2, body, script)
        print(f"# {args.workers} gunicorn workers each, {os.cpu_count()} CPUs, {args.repeats} runs per server and "
              f"level, each {args.seconds} s in {args.slice_seconds} s slices taken in turns (the order rotated "
              f"each run); load average {os.getloadavg()[0]:.1f}")
        print("| conns | server | ratio to bare, each run | mean | server CPU µs/req (mean) |\n| --- | --- | --- | --- | --- |")
        names = list(servers)
        for concurrency in args.concurrency:
            runs: dict[str, list[dict]] = {name: [] for name in names}
            for repeat in range(args.repeats):
                order = names[repeat % len(names):] + names[:repeat % len(names)]
                taken = take_turns([(*servers[name], None) for name in order], concurrency, args, body, script)
                for name, result in zip(order, taken):
                    runs[name].append(result)
            for name in names:
                ratios = [r["rps"] / b["rps"] for r, b in zip(runs[name], runs["bare"])]
                cpu = sum(r["cpu_us"] for r in runs[name]) / len(runs[name])
                print(f"| {concurrency} | {name} | {' '.join(f'{x:.2f}' for x in ratios)} | "
                      f"{sum(ratios) / len(ratios):.2f} | {cpu:.0f} |", flush=True)
        return 0
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts",
                        help="model to serve (default: ./artifacts; trained on the fly if absent)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: 2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16, 32],
                        help="wrk connections per level (default: 1 8 16 32)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run (default: 5)")
    parser.add_argument("--slice-seconds", type=int, default=1,
                        help="each run is taken in slices of this many seconds, alternating between the two "
                             "servers (default: 1; --slice-seconds 5 with --seconds 5: one block per server)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="pairs of runs (ours, bare) per level (default: 3)")
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="checkout whose app/ and gunicorn.conf.py are served, e.g. an export of main "
                             "to measure before a change (default: this one)")
    parser.add_argument("--baseline-root", type=Path,
                        help="instead of the bare endpoint, ours served from this checkout (e.g. an export of "
                             "main): the ratio is then this checkout's req/s over that one's")
    parser.add_argument("--request", default="predict-png",
                        help="the request sent: predict-png (default), or a body of benchmarks/serve_v2.py "
                             "(v2-fp32-json, v2-fp32-binary, v2-bytes-png)")
    modes = {  # each replaces the default comparison with the bare endpoint
        "--served-parts": "instead: ours, ours with parts switched off (model, decoding, metrics) and bare, served "
                          "side by side (slices in turns): what each part costs a served request",
        "--calibrate": "instead of the bare endpoint, a second server of ours: the same code on both sides, so "
                       "the ratios' spread around 1 is what the machine's noise alone does",
        "--breakdown": "instead: CPU per request in process, by part (no HTTP, no wrk)",
    }
    for flag, text in modes.items():
        parser.add_argument(flag, action="store_true", help=text)
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
    if args.request != "predict-png":
        from serve_v2 import bodies, wrk_script

        path, payload, headers = bodies(body.read_bytes())[args.request]
        body = work / "request.body"
        body.write_bytes(payload)
        script.write_text(wrk_script(path, headers))
    env = {"MODEL_DIR": str(model_dir(args.model_dir, work)), "WEB_CONCURRENCY": str(args.workers),
           "LOG_LEVEL": "info", "BENCH_BODY": str(body)}
    if args.served_parts:
        return served_parts(env, work, args, body, script)
    # The decode stage reads the body as an image: timed for the PNG request only.
    decode, model = (stage_cpu(args.app_root, body, env["MODEL_DIR"]) if args.request == "predict-png"
                     else (0.0, 0.0))
    ours, ours_url = start("ours", env, work, root=args.app_root)
    # The baseline: the bare endpoint, or with --calibrate ours again (its columns then say "bare").
    if args.baseline_root:
        bare, bare_url = start("bare", env, work, None, root=args.baseline_root)
    else:
        bare, bare_url = start("bare", env, work, None if args.calibrate else "serve_load:make_bare_app()",
                               root=args.app_root)
    for url in (ours_url, bare_url):  # unmeasured: every thread started, every code path warm
        run_wrk(url, 8, 2, body, script)
    fair = 0.5 / args.workers  # every worker serves at least half of an equal share
    try:
        print(f"# {args.app_root}: {args.workers} gunicorn workers each, {os.cpu_count()} CPUs, wrk, "
              f"{args.seconds}s per run in {args.slice_seconds}s slices taken in turns, {args.repeats} pairs per level, body: one 28x28 PNG "
              f"({body.stat().st_size} bytes); load average {os.getloadavg()[0]:.1f}")
        if args.calibrate:
            print("# --calibrate: the 'bare' columns are a second server of ours (the same code on both sides)")
        if args.baseline_root:
            print(f"# --baseline-root: the 'bare' columns are ours served from {args.baseline_root}; "
                  f"request: {args.request}")
        print("# p50 / p99: the median over a run's slices; connections per worker: as held half-way through "
              "the first slice (each slice opens its own)")
        print("| conns | run | ours req/s | bare req/s | ratio | ours p50 / p99 ms | ours connections per worker "
              "| ours requests per worker | ours CPU per worker | bare connections per worker | bare CPU per worker "
              "| ours CPU µs/req | bare CPU µs/req |")
        print("| --- " * 13 + "|")
        summary, worst, best, unfair = [], float("inf"), 0.0, []
        for concurrency in args.concurrency:
            ratios, cpu = [], []
            for run in range(1, args.repeats + 1):
                o, b = take_turns([(ours, ours_url, work / "ours.log"), (bare, bare_url, None)], concurrency,
                                  args, body, script)
                ratio = o["rps"] / b["rps"]
                ratios.append(ratio)
                cpu.append((o["cpu_us"], b["cpu_us"]))
                if o["lowest_share"] is not None and o["lowest_share"] < fair and concurrency >= args.workers:
                    unfair.append(f"{concurrency} connections, run {run}: {o['request_shares']}")
                errors = f" ({o['errors']} / {b['errors']} errors)" if o["errors"] or b["errors"] else ""
                print(f"| {concurrency} | {run} | {o['rps']:.0f} | {b['rps']:.0f} | {ratio:.2f} | {o['p50']:.2f} / "
                      f"{o['p99']:.2f} | {o['connections']} | {o['request_shares']} | {o['cpu_shares']} | "
                      f"{b['connections']} | {b['cpu_shares']} | "
                      f"{o['cpu_us']:.0f} | {b['cpu_us']:.0f}{errors} |", flush=True)
            ours_cpu = sorted(c[0] for c in cpu)[len(cpu) // 2]
            summary.append((concurrency, min(ratios), max(ratios), sum(ratios) / len(ratios), ours_cpu,
                            sorted(c[1] for c in cpu)[len(cpu) // 2]))
            worst, best = min(worst, min(ratios)), max(best, max(ratios))
        print("\n| conns | ratio ours/bare, lowest - highest | mean | ours CPU µs/req (median) | bare CPU µs/req "
              "| decode µs/req | model µs/req | rest µs/req |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
        for concurrency, low, high, mean, ours_cpu, bare_cpu in summary:
            print(f"| {concurrency} | {low:.2f} - {high:.2f} | {mean:.2f} | {ours_cpu:.0f} | {bare_cpu:.0f} | {decode:.0f} | "
                  f"{model:.0f} | {ours_cpu - decode - model:.0f} |")
        if args.calibrate:
            print(f"\nsame code on both sides: ratios {worst:.2f} - {best:.2f}, the spread noise alone gives one run")
            return 0
        if args.baseline_root:
            means = ", ".join(f"{c} conns {mean:.3f}" for c, _, _, mean, _, _ in summary)
            print(f"\nthis checkout / {args.baseline_root}: ratios {worst:.2f} - {best:.2f}; mean by level: {means}")
            return 0
        print(f"\nworst ratio ours/bare: {worst:.2f} (target >= 0.7). CPU: master + workers, user + system, "
              "from /proc over each run; decode and model: CPU µs of inference.decode.decode_batch and "
              "Predictor.predict on the same image alone, in a separate process (best of 3); "
              "rest = CPU - decode - model: HTTP, gunicorn, Flask, hooks, logging, metrics.")
        print("unfair runs (a worker under half an equal share of the requests): "
              + ("; ".join(unfair) if unfair else "none"))
        return 0 if worst >= 0.7 and not unfair else 1
    finally:
        for process in (ours, bare):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
