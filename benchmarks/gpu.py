"""GPU against CPU, side by side in one run: where does the GPU pay for this service?

    python benchmarks/gpu.py --device cuda          # GPU vs CPU (refuses without CUDA)
    python benchmarks/gpu.py --device cpu --quick   # the CPU side alone: proves the script here

1. training: seconds per epoch (train + test evaluation) of `python -m training` for linear, mlp
   and cnn on synthetic IDX files of the full size (60,000 + 10,000; --quick: 6,000 + 1,000),
   read from metrics.json; the fastest epoch after the first (which pays CUDA's start-up) counts.
2. batch scoring: images/s of `python -m scorer` on the synthetic IDX training file, batch 256
   and 4096, backends onnx and torch, as the scorer's report.json states it (model load included).
3. single-request latency: one PNG per POST /predict to a real gunicorn (one worker) with DEVICE
   cpu and cuda, for the 784x10 softmax regression and the cnn; median and 90th percentile.
4. sweep: forward passes alone (torch, no HTTP, no decoding) for models from 784x10 up to a wide
   MLP and the cnn, batch 1 to 4096: images/s on each device, and the GPU/CPU ratio.

Everything goes through the command lines, HTTP and plain torch modules: no project internals.
A part whose GPU side cannot run (no onnxruntime CUDA provider, say) prints why and goes on.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cuda: GPU vs CPU (default); cpu: the CPU side alone")
    p.add_argument("--quick", action="store_true", help="a tenth of the data, fewer repeats")
    p.add_argument("--parts", default="train,score,latency,sweep",
                   help="comma-separated subset of train,score,latency,sweep (default: all)")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    a = p.parse_args()
    devices = ["cpu"]
    if a.device == "cuda":
        missing = missing_cuda()
        if missing:
            print(f"error: --device cuda: {missing}. Nothing measured; "
                  "`--device cpu` measures the CPU side alone.", file=sys.stderr)
            return 2
        devices.append("cuda")
    else:
        print("--device cpu: GPU columns are not measured (run with --device cuda on a GPU machine)")
    ort_cuda = onnxruntime_has_cuda()
    n_train, n_test = (6000, 1000) if a.quick else (60000, 10000)
    figures: dict = {"devices": devices, "quick": a.quick, "environment": environment()}
    parts = a.parts.split(",")
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        tmp = Path(tmp)
        data = write_synthetic(tmp / "data", n_train, n_test)
        if "train" in parts:
            figures["train"] = bench_training(data, tmp, devices, epochs=2 if a.quick else 3)
        models = {arch: train_small(data, tmp / f"model-{arch}", arch) for arch in ("linear", "cnn")}
        if "score" in parts:
            figures["score"] = bench_scoring(data, models["linear"], tmp, devices, ort_cuda)
        if "latency" in parts:
            figures["latency"] = bench_latency(models, tmp, devices, ort_cuda, 50 if a.quick else 300)
        if "sweep" in parts:
            figures["sweep"] = bench_sweep(devices, 0.2 if a.quick else 1.0)
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1))
    return 0


# --- environment -------------------------------------------------------------------------------

def missing_cuda() -> str | None:
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return None


def onnxruntime_has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def environment() -> dict:
    import onnxruntime as ort
    import torch

    env = {"torch": torch.__version__, "onnxruntime": ort.__version__,
           "onnxruntime_providers": ort.get_available_providers(), "cpus": len(os.sched_getaffinity(0))}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    print("environment:", json.dumps(env))
    return env


def number(value: float | None, spec: str) -> str:
    """A figure in a table cell, `-` when it was not measured."""
    return "-" if value is None else format(value, spec)


def ratio(cpu: float | None, gpu: float | None) -> str:
    """GPU speed over CPU speed (>1: the GPU is faster), from two times or two rates' inverses."""
    if cpu is None or gpu is None:
        return "-"
    return f"{cpu / gpu:.2f}x"


# --- data and models ---------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX (uint8) as the data set ships it, gzipped: magic 0x0000 08 <dims>, big-endian sizes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_synthetic(folder: Path, n_train: int, n_test: int) -> Path:
    """Random images with random labels: content does not change the speed of these models."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


def run_training(data: Path, out: Path, arch: str, device: str, epochs: int,
                 extra: tuple = ()) -> dict:
    subprocess.run([PY, "-m", "training", "--data-dir", str(data), "--out", str(out), "--model", arch,
                    "--device", device, "--epochs", str(epochs), "--no-progress", "--force", *extra],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads((out / "metrics.json").read_text())


def train_small(data: Path, out: Path, arch: str) -> Path:
    """A model to serve and score: one batch of training (--dry-run) is enough for speed."""
    run_training(data, out, arch, "cpu", 1, ("--dry-run",))
    return out


# --- 1. training -------------------------------------------------------------------------------

def bench_training(data: Path, tmp: Path, devices: list[str], epochs: int) -> list[dict]:
    print(f"\n1. training: seconds per epoch (train + test evaluation), batch 256, best of epochs 2..{epochs}")
    print(f"{'model':<8}{'cpu s':>10}{'cuda s':>10}{'gpu speed-up':>15}")
    rows = []
    for arch in ("linear", "mlp", "cnn"):
        seconds = {}
        for device in devices:
            epochs_run = run_training(data, tmp / f"train-{arch}-{device}", arch, device, epochs)["epochs"]
            seconds[device] = min(e["seconds"] for e in epochs_run[1:])
        rows.append({"model": arch, **seconds})
        cuda = seconds.get("cuda")
        print(f"{arch:<8}{seconds['cpu']:>10.3f}{number(cuda, '.3f'):>10}"
              f"{ratio(seconds['cpu'], cuda):>15}")
    return rows


# --- 2. batch scoring --------------------------------------------------------------------------

def bench_scoring(data: Path, model: Path, tmp: Path, devices: list[str], ort_cuda: bool) -> list[dict]:
    images = data / "train-images-idx3-ubyte.gz"
    print(f"\n2. batch scoring: `python -m scorer` on an IDX file of synthetic images, "
          "images/s from its report (model load included), 784x10 model")
    print(f"{'backend':<8}{'batch':>7}{'cpu img/s':>12}{'cuda img/s':>12}{'gpu speed-up':>15}")
    rows = []
    for backend in ("onnx", "torch"):
        for batch in (256, 4096):
            rates = {}
            for device in devices:
                if device == "cuda" and backend == "onnx" and not ort_cuda:
                    continue
                report = tmp / f"report-{backend}-{batch}-{device}"
                subprocess.run([PY, "-m", "scorer", str(images), "--out", str(tmp / "rows.jsonl"),
                                "--force", "--model-dir", str(model), "--backend", backend,
                                "--device", device, "--batch-size", str(batch), "--report", str(report)],
                               cwd=ROOT, check=True, capture_output=True, text=True)
                summary = json.loads((report / "report.json").read_text())["summary"]
                assert summary["device"].startswith(device), summary  # no silent fallback
                rates[device] = summary["images_per_second"]
            rows.append({"backend": backend, "batch": batch, **rates})
            cuda = rates.get("cuda")
            note = "" if cuda or "cuda" not in devices else "  (onnxruntime has no CUDA provider)"
            print(f"{backend:<8}{batch:>7}{rates['cpu']:>12.0f}{number(cuda, '.0f'):>12}"
                  f"{ratio(1 / rates['cpu'], 1 / cuda if cuda else None):>15}{note}")
    return rows


# --- 3. single-request latency -----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: Path, device: str, backend: str, log: Path) -> tuple[subprocess.Popen, str]:
    """`gunicorn -c gunicorn.conf.py`, one worker, on a free local port; waits for /readyz."""
    port = free_port()
    env = {**os.environ, "MODEL_DIR": str(model), "PORT": str(port), "WEB_CONCURRENCY": "1",
           "DEVICE": device, "MODEL_BACKEND": backend, "LOG_LEVEL": "warning"}
    process = subprocess.Popen([str(Path(PY).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                                "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy booting
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn not ready:\n{log.read_text()}")


def bench_latency(models: dict[str, Path], tmp: Path, devices: list[str], ort_cuda: bool,
                  requests_n: int) -> list[dict]:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)).save(buffer, "PNG")
    body = buffer.getvalue()
    print(f"\n3. single-request latency: one 28x28 PNG per POST /predict, one gunicorn worker, "
          f"{requests_n} requests after 20 warm-up ones (ms)")
    print(f"{'model':<8}{'backend':<8}{'cpu p50':>9}{'cpu p90':>9}{'cuda p50':>10}{'cuda p90':>10}"
          f"{'gpu speed-up (p50)':>20}")
    rows = []
    for arch, model in models.items():
        for backend in ("onnx", "torch"):
            figures = {}
            for device in devices:
                if device == "cuda" and backend == "onnx" and not ort_cuda:
                    continue
                process, url = serve(model, device, backend, tmp / f"gunicorn-{arch}-{backend}-{device}.log")
                try:
                    ready = requests.get(f"{url}/readyz", timeout=5).json()
                    assert ready["device"].startswith(device), ready  # no silent fallback
                    figures[device] = time_requests(url, body, requests_n)
                finally:
                    process.terminate()
                    process.wait(30)
            rows.append({"model": arch, "backend": backend, **figures})
            cpu, cuda = figures["cpu"], figures.get("cuda")
            gpu_p50, gpu_p90 = (cuda["p50"], cuda["p90"]) if cuda else (None, None)
            print(f"{arch:<8}{backend:<8}{cpu['p50']:>9.2f}{cpu['p90']:>9.2f}"
                  f"{number(gpu_p50, '.2f'):>10}{number(gpu_p90, '.2f'):>10}"
                  f"{ratio(cpu['p50'], gpu_p50):>20}")
    for row in rows:
        if row["model"] == "linear" and "cuda" in row:
            faster = row["cuda"]["p50"] < row["cpu"]["p50"]
            print(f"verdict, 784x10 over {row['backend']}: the GPU is "
                  + ("FASTER" if faster else "SLOWER")
                  + f" per request ({row['cuda']['p50']:.2f} ms vs {row['cpu']['p50']:.2f} ms on the CPU)"
                  + ("" if faster else ": one image is 7,840 multiply-adds; the copies to and from "
                     "the GPU and the kernel launches cost more than the CPU's whole answer"))
    return rows


def time_requests(url: str, body: bytes, n: int) -> dict:
    with requests.Session() as session:  # keep-alive: the connection setup is not the model's
        post = lambda: session.post(f"{url}/predict", data=body,  # noqa: E731
                                    headers={"Content-Type": "image/png"}, timeout=10)
        for _ in range(20):
            post().raise_for_status()
        times = []
        for _ in range(n):
            started = time.perf_counter()
            post().raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(times, n=10)
    return {"p50": statistics.median(times), "p90": quantiles[8], "requests": n}


# --- 4. sweep: model size x batch size ---------------------------------------------------------

def sweep_models():
    from torch import nn

    return {
        "linear 784x10": nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
        "mlp 784-256-10": nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)),
        "mlp 784-4096x2-10": nn.Sequential(nn.Flatten(), nn.Linear(784, 4096), nn.ReLU(),
                                           nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)),
        # training's cnn (training/archs.py), rebuilt here so the benchmark needs no internals
        "cnn": nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10)),
    }


def forward_rate(model, batch: int, device: str, budget_s: float) -> float:
    """Images/s of softmax(model(x)) with the batch copied in from and out to host memory, as a
    server does it; repeats for about `budget_s` seconds after a warm-up."""
    import torch

    model = model.to(device).eval()
    host = torch.rand(batch, 1, 28, 28)

    def step():
        with torch.inference_mode():
            return torch.softmax(model(host.to(device)), dim=1).cpu()

    for _ in range(3):
        step()
    count, started = 0, time.perf_counter()
    while True:
        step()  # .cpu() waits for the GPU: no separate synchronize needed
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= budget_s and count >= 3:
            return count * batch / elapsed


def bench_sweep(devices: list[str], budget_s: float) -> list[dict]:
    import torch

    batches = (1, 16, 256, 4096)
    print(f"\n4. sweep: forward pass + copies (torch, {torch.get_num_threads()} CPU threads), "
          "images/s; gpu speed-up = cuda/cpu")
    print(f"{'model':<20}{'batch':>7}{'cpu img/s':>13}{'cuda img/s':>13}{'gpu speed-up':>15}")
    rows = []
    for name, model in sweep_models().items():
        pays_from = None
        for batch in batches:
            rates = {device: forward_rate(model, batch, device, budget_s) for device in devices}
            rows.append({"model": name, "batch": batch, **rates})
            cuda = rates.get("cuda")
            if cuda and cuda > rates["cpu"] and pays_from is None:
                pays_from = batch
            print(f"{name:<20}{batch:>7}{rates['cpu']:>13.0f}{number(cuda, '.0f'):>13}"
                  f"{ratio(1 / rates['cpu'], 1 / cuda if cuda else None):>15}")
        if "cuda" in devices:
            print(f"  -> {name}: the GPU " + (f"pays from batch {pays_from}" if pays_from
                                              else "never pays up to batch 4096"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
