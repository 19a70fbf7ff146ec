"""Calibration and the out-of-distribution detector of a trained model, measured side by side:

1. ECE (15 bins) and NLL on the test split before (T = 1) and after temperature scaling;
2. AUROC and flag rate per non-clothing family, for the served ood_score and for the detectors it
   was chosen over (max softmax, energy, pixel Mahalanobis, nearest neighbour, PCA reconstruction,
   and the first served detector: a class-conditional PCA residual plus five other statistics,
   with each term alone), every one fitted on the model's own training part and thresholded at the
   95th percentile of the validation split, as training does;
3. with --cpu N: the worker CPU time of one POST /predict (real gunicorn workers, one 28x28 PNG
   per request) for the model as trained before this detector (plain softmax, no ood_score) and as
   served now, the servers taking turns, N requests to each, and each model's `model` stage per
   request from the servers' /metrics (the wall time of predictor.infer, where the detector runs).

    .venv/bin/python benchmarks/ood_eval.py --model-dir artifacts --data-dir ../shared/data/fashion-mnist-mini \
        [--cpu 1000 [--copies 4] [--burst 1] [--cpu-also OLDER_MODEL_DIR] [--cpu-only]]

The families, all decoded by the server's decoder: "seen" ones are those the detector's statistics
were chosen while looking at (scikit-learn's digits, scikit-image's photos and crops of them, three
noise kinds), so their figures are optimistic; "held-out" ones were not looked at before the choice
(digits in MNIST's layout, scikit-image's binary_blobs, drawn shapes, smooth noise, gradients).
"re-rendered clothing" is not out of distribution: the sample's test images upscaled, shown dark on
white paper with a little sensor noise and margin, as a user's upload of clothing might be; its
flag rate should stay near 5%. Needs torch (the logits), scikit-learn and scikit-image (dev extra).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import calibration, ood, ood_families  # noqa: E402


def held_out_families(seed: int = 7) -> dict[str, np.ndarray]:
    from PIL import Image, ImageDraw, ImageFilter
    import skimage.data

    rng = np.random.default_rng(seed)
    blobs = [np.asarray(skimage.data.binary_blobs(length=128, blob_size_fraction=f, volume_fraction=v, rng=i),
                        np.uint8) * 255
             for i, (f, v) in enumerate(zip(rng.uniform(0.05, 0.3, 60), rng.uniform(0.1, 0.6, 60)))]
    shapes, smooth, gradients = [], [], []
    for _ in range(200):
        canvas = Image.new("L", (112, 112), 0)
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(1, 4))):
            box = sorted(rng.integers(5, 107, 2).tolist()), sorted(rng.integers(5, 107, 2).tolist())
            xy = [box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1]
            fill = int(rng.integers(80, 256))
            [draw.ellipse, draw.rectangle][int(rng.integers(0, 2))](xy, fill=fill)
        shapes.append(np.asarray(canvas))
        noise = Image.fromarray(rng.integers(0, 256, (112, 112), dtype=np.uint8))
        smooth.append(np.asarray(noise.filter(ImageFilter.GaussianBlur(float(rng.uniform(2, 8))))))
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:112, 0:112] / 111.0
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        gradients.append(ood_families.to_uint8(ramp))
    return {"digits_mnist_layout": ood_families.digits("mnist"), "blobs": ood_families.decoded(blobs),
            "shapes": ood_families.decoded(shapes), "smooth_noise": ood_families.decoded(smooth),
            "gradients": ood_families.decoded(gradients)}


def rerendered(images: np.ndarray, seed: int = 7) -> np.ndarray:
    """Clothing as an upload: x8 bicubic, dark on white, margins, sensor noise, then the decoder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        big = np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC), np.float64) / 255
        paper = np.pad(1 - big, [(int(rng.integers(0, 40)), int(rng.integers(0, 40))) for _ in range(2)],
                       constant_values=1.0)
        out.append(np.round(np.clip(paper + rng.normal(0, 0.02, paper.shape), 0, 1) * 255).astype(np.uint8))
    return ood_families.decoded(out)


SERVED = "served: nine statistics, Mahalanobis"


class Alternatives:
    """The detectors the served score was chosen over, fitted on the training part."""

    def __init__(self, net, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, temperature: float):
        from sklearn.covariance import LedoitWolf

        self.net, self.train_x, self.temperature = net, train_x, temperature
        centred = train_x - np.stack([train_x[train_y == c].mean(0) for c in range(10)])[train_y]
        self.class_means = np.stack([train_x[train_y == c].mean(0) for c in range(10)])
        self.precision = LedoitWolf().fit(centred).precision_
        self.mean = train_x.mean(0)
        _, _, vt = np.linalg.svd(train_x - self.mean, full_matrices=False)
        self.basis = vt[:20]
        self.first = FirstDetector(train_x, train_y, val_x)

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net(torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32))).double().numpy()

    def scores(self, x: np.ndarray, tensors: dict) -> dict[str, np.ndarray]:
        logits = self.logits(x)
        shifted = logits - logits.max(1, keepdims=True)
        d = x[:, None, :] - self.class_means[None]
        maha = np.einsum("ncp,pq,ncq->nc", d, self.precision, d).min(1)
        distances = (x ** 2).sum(1)[:, None] - 2 * x @ self.train_x.T + (self.train_x ** 2).sum(1)[None]
        centred = x - self.mean
        residual, statistics = self.first.terms(x)
        return {
            "max softmax (calibrated)": -calibration.softmax(logits, self.temperature).max(1),
            "energy": -(np.log(np.exp(shifted).sum(1)) + logits.max(1)),
            "Mahalanobis, pixels (class means, tied LW covariance)": maha,
            "nearest neighbour distance": np.sqrt(np.maximum(distances.min(1), 0)),
            "PCA reconstruction error (20 components)": (centred ** 2).sum(1) - ((centred @ self.basis.T) ** 2).sum(1),
            "first version: class PCA residual alone (R)": residual,
            "first version: five statistics alone (M5)": statistics,
            "first version: R + M5": residual + statistics,
            SERVED: ood.score(x, tensors),
        }


class FirstDetector:
    """The detector served before this one (kept here only to compare): R, the smallest over classes
    of the squared distance to the class mean that the class's top 5 principal directions leave
    unexplained, plus M5, the Mahalanobis distance of five statistics (border ring mean, mean, the
    fraction of pixels above 0.02, total variation, Laplacian energy), each standardised on the
    validation split."""

    def __init__(self, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, k: int = 5):
        self.means = np.stack([train_x[train_y == c].mean(0) for c in range(10)])
        self.bases = np.stack([np.linalg.svd(train_x[train_y == c] - self.means[c], full_matrices=False)[2][:k]
                               for c in range(10)])
        stats = self.statistics(train_x)
        self.stat_mean, self.precision = stats.mean(0), np.linalg.pinv(np.cov(stats, rowvar=False))
        self.refs = [(v.mean(), v.std()) for v in self.raw(val_x)]

    @staticmethod
    def statistics(x: np.ndarray) -> np.ndarray:
        img = x.reshape(-1, 28, 28)
        ring = np.zeros((28, 28), bool)
        ring[:2, :] = ring[-2:, :] = ring[:, :2] = ring[:, -2:] = True
        padded = np.pad(img, ((0, 0), (1, 1), (1, 1)))
        dy, dx = padded[:, 2:, 1:-1] - img, padded[:, 1:-1, 2:] - img
        lap = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:] - 4 * img
        return np.stack([img[:, ring].mean(1), x.mean(1), (x > 0.02).mean(1),
                         np.abs(dy).mean((1, 2)) + np.abs(dx).mean((1, 2)), (lap ** 2).mean((1, 2))], 1)

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = np.full(len(x), np.inf)
        for mu, basis in zip(self.means, self.bases):
            d = x - mu
            residual = np.minimum(residual, (d ** 2).sum(1) - ((d @ basis.T) ** 2).sum(1))
        d = self.statistics(x) - self.stat_mean
        return residual, ((d @ self.precision) * d).sum(1)

    def terms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple((value - m) / sd for value, (m, sd) in zip(self.raw(x), self.refs))


def load(model_dir: Path, data_dir: Path):
    import torch

    from inference.nets import build_sequential
    from training.data import load_dataset, split_validation

    card = json.loads((model_dir / "model.json").read_text())
    checkpoint = torch.load(model_dir / "model.pt", weights_only=True)
    net = build_sequential(checkpoint["arch"]["layers"]).eval()
    net.load_state_dict(checkpoint["state_dict"])
    hyper = card["hyperparameters"]
    data = load_dataset(data_dir, download=False)
    train, validation = split_validation(data.train, hyper["val_fraction"], hyper["seed"])
    tensors = {name: value.numpy() for name, value in checkpoint["ood"].items() if name != "threshold"}
    return card, checkpoint, net, train, validation, data.test, tensors


def evaluate(model_dir: Path, data_dir: Path) -> dict:
    card, checkpoint, net, train, validation, test, tensors = load(model_dir, data_dir)
    temperature, threshold = checkpoint["temperature"], float(checkpoint["ood"]["threshold"])
    test_x, test_y = ood.flat(test.images.numpy()), test.labels.numpy()
    val_x, val_y = ood.flat(validation.images.numpy()), validation.labels.numpy()
    alternatives = Alternatives(net, ood.flat(train.images.numpy()), train.labels.numpy(), val_x, temperature)
    results = {"model_dir": str(model_dir), "temperature": temperature, "threshold": threshold,
               "calibration": {}, "families": {}, "detectors": {}}
    for name, (x, y) in {"validation (fitted on)": (val_x, val_y), "test": (test_x, test_y)}.items():
        results["calibration"][name] = calibration.report(alternatives.logits(x), y, temperature)

    seen = {"digits": ood_families.digits(), "photos": ood_families.photos(),
            "photo crops": ood_families.crops(), **ood_families.noise()}
    families = {**{f"seen: {k}": v for k, v in seen.items()},
                **{f"held-out: {k}": v for k, v in held_out_families().items()},
                "re-rendered clothing (not OOD)": rerendered(test.images.numpy())}
    inside = alternatives.scores(test_x, tensors)
    thresholds = {name: float(np.quantile(values, ood.ACCEPT))
                  for name, values in alternatives.scores(val_x, tensors).items()}
    thresholds[SERVED] = threshold  # the model's own, identical by construction
    results["detectors"] = {name: {"test_flag_rate": float((inside[name] > thresholds[name]).mean()),
                                   "families": {}} for name in inside}
    pooled = {name: [] for name in inside}
    for family, images in families.items():
        x = ood.flat(images)
        outside = alternatives.scores(x, tensors)
        results["families"][family] = len(x)
        for name, values in outside.items():
            entry = {"flag_rate": float((values > thresholds[name]).mean())}
            if not family.startswith("re-rendered"):
                entry["auroc"] = ood.auroc(inside[name], values)
                pooled[name].append(values)
            results["detectors"][name]["families"][family] = entry
    for name, parts in pooled.items():
        results["detectors"][name]["auroc_all"] = ood.auroc(inside[name], np.concatenate(parts))
        held = [v for f, v in zip([f for f in families if not f.startswith("re-")], parts) if f.startswith("held")]
        results["detectors"][name]["auroc_held_out"] = ood.auroc(inside[name], np.concatenate(held))
    return results


def before_model(model_dir: Path, out: Path) -> Path:
    """The same weights as a run before the detector wrote them: plain softmax, no ood_score, no blocks."""
    import shutil

    import torch

    from inference.nets import build_sequential
    from training.export import export_onnx, sha256

    checkpoint = torch.load(model_dir / "model.pt", weights_only=True)
    net = build_sequential(checkpoint["arch"]["layers"])
    net.load_state_dict(checkpoint["state_dict"])
    export_onnx(net, out / "model.onnx")
    shutil.copy(model_dir / "model.pt", out / "model.pt")
    card = json.loads((model_dir / "model.json").read_text())
    card.pop("calibration"), card.pop("ood")
    card.pop("explain", None)  # the explainer is off /predict's path: left out of both sides' cost
    card["sha256"] = {name: sha256(out / name) for name in ("model.onnx", "model.pt")}
    (out / "model.json").write_text(json.dumps(card))
    return out


def cpu_per_request(model_dir: Path, requests_per_server: int, copies: int = 4, burst: int = 1,
                    also: dict[str, Path] | None = None, around=None) -> dict:
    """Worker CPU seconds per POST /predict (one 28x28 PNG, keep-alive) for the model as trained
    before the detector, as served now, and any model folders in `also` (e.g. one with the first
    detector). Each model is served by `copies` gunicorns of one worker: a process's own memory
    layout moves its cost by a few per cent, so the copies average that out, and the spread of
    before's copies shows the floor. The servers take turns, `burst` requests each, in an order
    that turns every time, so that a noisy moment of the machine falls on all of them alike; a
    request's cost is the worker's CPU (/proc/PID/task/*/schedstat, nanoseconds) from the start of
    that request to the start of the server's next one, so the work after the response counts
    too. A server's figure is the median of its requests; a model's is the mean of its copies'.
    `around(workers)`, a context manager given each (model, copy)'s worker pid, wraps the measured
    requests (benchmarks/ood_graph_cost.py records them with perf)."""
    import requests
    from PIL import Image

    from benchmarks.request_cost import cpu_seconds
    from tests.conftest import without_explain
    from tests.integration.conftest import start_gunicorn

    image = np.zeros((28, 28), np.uint8)
    image[6:22, 9:19] = 200
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    body = buffer.getvalue()
    folder = Path(tempfile.mkdtemp())
    first = "before (softmax only)"
    dirs = {first: before_model(model_dir, folder),
            "after (calibrated + ood_score)": without_explain(model_dir, folder / "after"),
            **{name: without_explain(d, folder / f"also{i}") for i, (name, d) in enumerate((also or {}).items())}}
    servers = {(name, copy): start_gunicorn(d, folder / f"{i}-{copy}.log", workers=1)
               for copy in range(copies) for i, (name, d) in enumerate(dirs.items())}
    try:
        sessions = {key: requests.Session() for key in servers}
        workers = {key: server.worker_pids()[0] for key, server in servers.items()}
        starts = {key: [] for key in servers}

        def send(key) -> None:
            response = sessions[key].post(f"{servers[key].url}/predict", data=body,
                                          headers={"Content-Type": "image/png"})
            assert response.status_code == 200

        for key in servers:
            for _ in range(100):  # warm
                send(key)
        pin(workers.values())
        keys = list(servers)
        with around(workers) if around else contextlib.nullcontext():
            for turn in range(-(-requests_per_server // burst)):
                for key in keys[turn % len(keys):] + keys[:turn % len(keys)]:
                    for _ in range(burst):
                        starts[key].append(cpu_seconds(workers[key]))
                        send(key)
            time.sleep(0.001)  # the last requests' work after their responses
            for key in keys:
                starts[key].append(cpu_seconds(workers[key]))
        stage = {key: model_stage_us(server.url) for key, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    per_server = {key: statistics.median(b - a for a, b in zip(values, values[1:])) * 1e6
                  for key, values in starts.items()}
    us = {name: statistics.fmean(per_server[(name, copy)] for copy in range(copies)) for name in dirs}
    return {"us_per_request": us, "ratio": {name: us[name] / us[first] for name in dirs if name != first},
            "model_stage_us": {name: statistics.fmean(stage[(name, copy)] for copy in range(copies)) for name in dirs},
            "copies_to_before": {name: [per_server[(name, copy)] / us[first] for copy in range(copies)]
                                 for name in dirs},
            "requests_per_server": requests_per_server, "copies": copies, "burst": burst}


def model_stage_us(url: str) -> float:
    """The server's mean `model` stage per /predict request (predictor.infer, wall µs), from its
    /metrics: the detector's own work, apart from the rest of the request."""
    import requests

    from tests.prometheus_text import samples, value

    found = samples(requests.get(f"{url}/metrics", timeout=10).text)
    count = value(found, "http_requests_total", route="/predict", method="POST", status="200")
    return value(found, "predict_stage_seconds_total", stage="model") / count * 1e6


def pin(workers) -> None:
    """Every worker's threads on the last core and this client on the others (where there are two
    or more): which core a server landed on otherwise shows up as a difference between models."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return
    for pid in workers:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), {cores[-1]})
    os.sched_setaffinity(0, set(cores[:-1]))


def print_report(results: dict) -> None:
    print(f"model {results['model_dir']}: T = {results['temperature']:.3f}, threshold {results['threshold']:.3f}\n")
    print("| split | images | ECE before | ECE after | NLL before | NLL after |\n| --- | --- | --- | --- | --- | --- |")
    for name, c in results["calibration"].items():
        print(f"| {name} | {c['images']} | {c['ece_before']:.4f} | {c['ece_after']:.4f} | "
              f"{c['nll_before']:.4f} | {c['nll_after']:.4f} |")
    served = results["detectors"][SERVED]
    print(f"\nServed score, AUROC against test-split clothing, and flag rate at the model's threshold "
          f"(test clothing flagged: {served['test_flag_rate']:.3f}):\n")
    print("| family | images | AUROC | flagged |\n| --- | --- | --- | --- |")
    for family, count in results["families"].items():
        entry = served["families"][family]
        print(f"| {family} | {count} | {entry.get('auroc', float('nan')):.3f} | {entry['flag_rate']:.3f} |")
    print(f"| all OOD families | | {served['auroc_all']:.3f} | |\n| held-out families only | | "
          f"{served['auroc_held_out']:.3f} | |")
    print("\nDetectors side by side (AUROC; fitted on the training part, thresholds from validation):\n")
    families = [f for f in results["families"] if not f.startswith("re-")]
    short = [f.split(": ")[1] for f in families]
    print("| detector | " + " | ".join(short) + " | all | held-out | test flagged | re-rendered flagged |")
    print("| --- " * (len(short) + 5) + "|")
    for name, d in results["detectors"].items():
        cells = [f"{d['families'][f]['auroc']:.3f}" for f in families]
        print(f"| {name} | " + " | ".join(cells) + f" | {d['auroc_all']:.3f} | {d['auroc_held_out']:.3f} | "
              f"{d['test_flag_rate']:.3f} | {d['families']['re-rendered clothing (not OOD)']['flag_rate']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "fashion-mnist-mini")
    parser.add_argument("--cpu", type=int, default=0, metavar="N",
                        help="also measure /predict CPU per request before/after, N requests to each server")
    parser.add_argument("--burst", type=int, default=1,
                        help="requests a server takes in its turn in the CPU measurement (1: the coldest)")
    parser.add_argument("--cpu-also", type=Path, action="append", default=[], metavar="DIR",
                        help="another model folder measured beside before and after (e.g. an older detector)")
    parser.add_argument("--copies", type=int, default=4, help="gunicorns per model in the CPU measurement")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU measurement (with --cpu)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    results = {}
    if not args.cpu_only:
        results = evaluate(args.model_dir, args.data_dir)
        print_report(results)
    if args.cpu:
        cpu = results["cpu"] = cpu_per_request(args.model_dir, args.cpu, args.copies, args.burst,
                                               {f"also {d}": d for d in args.cpu_also})
        print(f"\n/predict worker CPU per request ({args.copies} gunicorns of 1 worker per model, taking "
              f"turns {args.burst} request(s) at a time, {args.cpu} requests each):")
        for name, value in cpu["us_per_request"].items():
            print(f"  {name}: {value:.0f} µs; each copy to before: "
                  + " ".join(f"{r:.3f}" for r in cpu["copies_to_before"][name]))
        for name, ratio in cpu["ratio"].items():
            print(f"  {name} / before: {ratio:.3f}")
        stage, first = cpu["model_stage_us"], next(iter(cpu["us_per_request"]))
        for name, value in stage.items():
            extra = value - stage[first]
            print(f"  model stage (predictor.infer, wall, from /metrics) {name}: {value:.1f} µs"
                  + ("" if name == first else f", {extra:+.1f} µs = {extra / cpu['us_per_request'][first]:+.1%} of before's request"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
