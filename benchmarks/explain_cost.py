"""CPU milliseconds per explained image (inference/explain.py on explain.onnx, onnxruntime with one
thread, as a worker of the service runs it), for the linear model, the MLP and the CNN. The issue's
budget: 50 ms of CPU per image for the CNN.

    FASHION_MNIST_DIR=../shared/data/fashion-mnist-mini .venv/bin/python benchmarks/explain_cost.py

Without `--model ARCH=DIR` it trains each architecture for one epoch on the sample first (the cost
of an explanation does not depend on how well the model learned). Images: the sample's first real
test images, explained for their predicted class one request-sized call at a time (one image, and
batches of 16), 3 rounds, the fastest round counts. CPU time is the process's (onnxruntime's one
intra-op thread runs in the calling thread); the prediction itself is not counted. Also printed:
Integrated Gradients' completeness |sum - (logit - baseline_logit)| / |logit - baseline_logit| at
each step count, the accuracy bought with the time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.explain import STEPS  # noqa: E402
from inference.idx import read_idx  # noqa: E402
from inference.predictor import Predictor  # noqa: E402

BUDGET_MS = 50.0


def train(arch: str, data: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "training", "--model", arch, "--data-dir", str(data), "--out", str(out),
                    "--epochs", "1", "--batch-size", "32", "--seed", "0", "--device", "cpu", "--threads", "1",
                    "--no-progress"], check=True, cwd=ROOT, capture_output=True)
    return out


def cost_ms(predictor: Predictor, images: np.ndarray, targets: list[int], per_call: int,
            rounds: int = 3) -> tuple[float, float]:
    """(CPU ms, wall ms) per image, the fastest of `rounds`."""
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(images), per_call):
            predictor.explain(images[start:start + per_call], targets[start:start + per_call])
        best_cpu = min(best_cpu, (time.process_time() - cpu) / len(images) * 1e3)
        best_wall = min(best_wall, (time.perf_counter() - wall) / len(images) * 1e3)
    return best_cpu, best_wall


def completeness(predictor: Predictor, images: np.ndarray, targets: list[int]) -> tuple[float, float]:
    """Median and largest |convergence_delta| / |logit gap| over the images."""
    explained = predictor.explain(images, targets)
    relative = [abs(e.convergence_delta) / max(abs(e.logit - e.baseline_logit), 1e-6) for e in explained]
    return float(np.median(relative)), float(np.max(relative))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="ARCH=DIR",
                        help="a trained model folder to use for ARCH instead of training one")
    parser.add_argument("--images", type=int, default=64, help="real test images (default: 64)")
    parser.add_argument("--steps", type=int, nargs="+", default=[16, STEPS, 64],
                        help=f"Integrated Gradients step counts to time (default: 16 {STEPS} 64)")
    args = parser.parse_args()
    data = Path(os.environ.get("FASHION_MNIST_DIR", ROOT.parent / "shared" / "data" / "fashion-mnist-mini"))
    given = dict(entry.split("=", 1) for entry in args.model)
    raw = read_idx(data / "t10k-images-idx3-ubyte.gz", 3)[:args.images]
    images = raw[:, None].astype(np.float32) / np.float32(255)
    print(f"{len(images)} real test images; onnxruntime, 1 thread; CPU ms per image, fastest of 3 rounds "
          "(wall ms in brackets); the served default is the row marked *")
    print(f"{'model':<6} {'method':<28} {'1 image/call':>18} {'16 images/call':>18}  completeness (median, max)")
    with tempfile.TemporaryDirectory() as work:
        for arch in ("linear", "mlp", "cnn"):
            folder = Path(given[arch]) if arch in given else train(arch, data, Path(work) / arch)
            predictor = Predictor.load(folder, device="cpu", threads=1)
            predictor.warm_up()
            targets = predictor.predict(images).argmax(axis=1).tolist()
            explainer = predictor.explainer
            for steps in ([STEPS] if explainer.affine else args.steps):
                explainer.steps = steps
                predictor.explain(images[:1], targets[:1])  # the quadrature's nodes, cached
                one, one_wall = cost_ms(predictor, images, targets, 1)
                batch, batch_wall = cost_ms(predictor, images, targets, 16)
                median, largest = completeness(predictor, images, targets)
                method = "exact" if explainer.affine else f"integrated gradients, {steps} steps"
                mark = "*" if steps == STEPS else " "
                print(f"{arch:<6} {method:<27}{mark} {one:7.2f} ({one_wall:6.2f}) {batch:9.2f} ({batch_wall:6.2f})"
                      f"  {median:.1e}, {largest:.1e}")
                if arch == "cnn" and steps == STEPS:
                    verdict = "within" if one <= BUDGET_MS else "OVER"
                    cnn_line = f"CNN at {STEPS} steps: {one:.2f} ms CPU per image, {verdict} the {BUDGET_MS:g} ms budget"
            explainer.steps = STEPS
    print(cnn_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
