"""How fast the batch scorer is, against the floor set by its parts, measured side by side in one run.

(a) IDX input, N synthetic images: images/s of `python -m scorer` end to end (a fresh process:
    start, model load, read, predict, write the CSV, print the evaluation) and of its `main()`
    called in this process (the same minus interpreter start and imports), against onnxruntime
    alone predicting the same, already decoded array in batches of the same size.
(b) A folder of N PNGs: the same script (--workers processes, default all CPUs, each decoding,
    predicting and formatting its share) against a single-process loop that reads, decodes
    (decode_image) and predicts the files in batches of the same size, writing nothing; and
    the script's main() with --workers 1, which shows what the worker processes themselves gain.

(c) `--only format`: CPU time of the writers' `format` alone (rows to CSV / JSON Lines text), on N
    prediction rows in batches of the same size: the part of (a) that no model choice changes.
(d) `--only ray`: the same folder of N PNGs scored by `--engine ray` on a real Ray cluster started
    here (tests/integration/ray_cluster.py), with 1 raylet of all the CPUs and with 2 raylets sharing
    them, against the local pool (--workers = the CPUs), each as a fresh process; plus the Ray run
    on N/100 of the files, whose time is the engine's fixed cost (connect, start the actors, load
    the model in each), so the per-image rate past it is (N - N/100) / (t(N) - t(N/100)).

    python benchmarks/score_speed.py [--model-dir DIR | --model linear|mlp|cnn] [--count 10000]

Without --model-dir a throwaway model is trained (1 epoch) on $FASHION_MNIST_DIR with the training
CLI. Each figure is the best of --repeat rounds in which the contenders take turns: the machine is
shared, and the best run is the one least disturbed by its neighbours.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.predictor import Predictor  # noqa: E402
from inference.decode import decode_image  # noqa: E402
from scorer.cli import main as score_main  # noqa: E402
from scorer.csv_writer import CsvWriter  # noqa: E402
from scorer.jsonl_writer import JsonlWriter  # noqa: E402
from inference.settings import available_cpus  # noqa: E402


def best_of(repeat: int, contenders: dict) -> dict[str, float]:
    """Shortest of `repeat` timings per contender, in seconds. The contenders take turns within
    each round, so a neighbour's burst of load hits them alike instead of one of them."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def write_idx(path: Path, images: np.ndarray) -> Path:
    """An IDX images file written byte by byte (magic 0x0803, then the three dimensions)."""
    header = b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    path.write_bytes(header + images.tobytes())
    return path


def synthetic_images(count: int, seed: int = 0) -> np.ndarray:
    """Light blobs on a dark background with noise: shaped like Fashion-MNIST, not random static."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    centres = rng.uniform(8, 20, size=(count, 2, 1, 1))
    radii = rng.uniform(4, 10, size=(count, 1, 1))
    blob = np.hypot(yy - centres[:, 0], xx - centres[:, 1]) < radii
    noise = rng.integers(0, 40, size=(count, 28, 28))
    return np.clip(blob * rng.integers(120, 255, size=(count, 1, 1)) + noise, 0, 255).astype(np.uint8)


def script_command(inputs: list[str], out: Path, model_dir: Path, batch_size: int) -> list[str]:
    return [*inputs, "--out", str(out), "--force", "--model-dir", str(model_dir), "--device", "cpu",
            "--batch-size", str(batch_size)]


def script_runs(args: list[str]) -> dict:
    """The scorer as a fresh process, and its main() in this process, on the same arguments."""
    command = [sys.executable, "-m", "scorer", *args]

    def in_process() -> None:
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
            score_main(args)

    return {"scorer, fresh process": lambda: subprocess.run(command, cwd=ROOT, check=True,
                                                                capture_output=True),
            "scorer main(), in process": in_process}


def bench_idx(work: Path, model_dir: Path, count: int, batch_size: int, repeat: int) -> None:
    images = synthetic_images(count)
    idx = write_idx(work / "synthetic-images-idx3-ubyte", images)
    decoded = (images.astype(np.float32) / 255.0)[:, None]
    predictor = Predictor.load(model_dir, device="cpu", threads=1)

    def onnxruntime_alone() -> None:
        for start in range(0, count, batch_size):
            predictor.predict(decoded[start:start + batch_size])

    onnxruntime_alone()  # warm-up
    args = script_command([str(idx)], work / "idx.csv", model_dir, batch_size)
    report("(a) IDX", count, best_of(repeat, {"onnxruntime alone, decoded array": onnxruntime_alone,
                                              **script_runs(args)}))


def bench_pngs(work: Path, model_dir: Path, count: int, batch_size: int, repeat: int) -> None:
    folder = work / "pngs"
    folder.mkdir()
    for i, image in enumerate(synthetic_images(count, seed=1)):
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    paths = sorted(str(p) for p in folder.iterdir())
    predictor = Predictor.load(model_dir, device="cpu", threads=1)

    def single_process_loop() -> None:
        for start in range(0, count, batch_size):
            batch = []
            for path in paths[start:start + batch_size]:
                with open(path, "rb") as handle:
                    batch.append(decode_image(handle.read()))
            predictor.predict(np.stack(batch)[:, None])

    args = script_command([str(folder)], work / "pngs.csv", model_dir, batch_size)
    one_worker = script_runs([*args, "--workers", "1"])["scorer main(), in process"]
    report(f"(b) PNG folder, {available_cpus()} CPUs", count,
           best_of(repeat, {"single-process decode+predict loop": single_process_loop, **script_runs(args),
                            "scorer main(), --workers 1": one_worker}))


def bench_ray(work: Path, model_dir: Path, count: int, batch_size: int, repeat: int) -> None:
    from tests.integration.ray_cluster import LocalRayCluster

    folder, few = work / "ray-pngs", work / "ray-pngs-few"
    few.mkdir(parents=True)
    folder.mkdir()
    for i, image in enumerate(synthetic_images(count, seed=2)):
        Image.fromarray(image).save(folder / f"{i:05d}.png")
        if i < count // 100:
            Image.fromarray(image).save(few / f"{i:05d}.png")
    cpus = available_cpus()

    def fresh(inputs: Path, out: str, *extra: str, env: dict | None = None):
        command = [sys.executable, "-m", "scorer", *script_command([str(inputs)], work / out, model_dir, batch_size),
                   *extra]
        return lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)

    # Both clusters run side by side (idle between their turns), so the contenders can take turns.
    with LocalRayCluster(nodes=1, cpus=cpus) as one, LocalRayCluster(nodes=2, cpus=max(1, cpus // 2)) as two:
        ray = lambda cluster, inputs, out: fresh(inputs, out, "--engine", "ray", "--ray-address",  # noqa: E731
                                                 cluster.address, env=cluster.env)
        seconds = best_of(repeat, {f"local pool, --workers {cpus}": fresh(folder, "local.csv"),
                                   f"ray, 1 raylet x {cpus} CPUs": ray(one, folder, "ray1.csv"),
                                   f"ray, 2 raylets x {max(1, cpus // 2)} CPUs": ray(two, folder, "ray2.csv")})
        fixed = best_of(repeat, {"1 raylet": ray(one, few, "few1.csv"), "2 raylets": ray(two, few, "few2.csv")})
    report(f"(d) PNG folder, local pool against Ray, {cpus} CPUs", count, seconds)
    small = count // 100
    for name, value in fixed.items():
        total = next(v for k, v in seconds.items() if name in k)
        print(f"  ray, {name}: {small} images take {value:.2f} s (the fixed cost); past it "
              f"{(count - small) / max(total - value, 1e-9):.0f} images/s")


def bench_format(model_dir: Path, count: int, batch_size: int, repeat: int) -> None:
    """CPU seconds (not wall: the machine is shared) of turning `count` prediction rows into text."""
    predictor = Predictor.load(model_dir, device="cpu", threads=1)
    probabilities = predictor.predict((synthetic_images(count).astype(np.float32) / 255.0)[:, None])
    rows = [{"source": "synthetic-images-idx3-ubyte", "index": i, "true_label": None, **prediction,
             "model_version": predictor.version}
            for i, prediction in enumerate(predictor.to_predictions(probabilities))]
    times: dict[str, list[float]] = {"CsvWriter.format": [], "JsonlWriter.format": []}
    for _ in range(repeat):
        for name, writer in (("CsvWriter.format", CsvWriter), ("JsonlWriter.format", JsonlWriter)):
            format = writer(predictor.classes).format
            started = time.process_time()
            for start in range(0, count, batch_size):
                format(rows[start:start + batch_size])
            times[name].append(time.process_time() - started)
    print(f"(c) writers' format, CPU time: {count} rows")
    for name, values in times.items():
        print(f"  {name:<20} {min(values) * 1000:8.1f} ms   {min(values) / count * 1e6:5.2f} µs per row")


def report(title: str, count: int, seconds: dict[str, float]) -> None:
    """images/s per contender, and each one's ratio to the first (the reference)."""
    reference = next(iter(seconds.values()))
    print(f"{title}: {count} images")
    for name, value in seconds.items():
        print(f"  {name:<36} {count / value:>10.0f} images/s   {value:7.3f} s   "
              f"ratio {reference / value:5.2f}")


def trained_model(work: Path, arch: str) -> Path:
    out = work / f"model-{arch}"
    subprocess.run([sys.executable, "-m", "training", "--out", str(out), "--model", arch, "--epochs", "1",
                    "--device", "cpu", "--no-progress"], cwd=ROOT, check=True, capture_output=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="artifacts to score with (default: train a throwaway one)")
    parser.add_argument("--model", choices=("linear", "mlp", "cnn"), default="linear",
                        help="architecture of the throwaway model (default: linear, the project's default)")
    parser.add_argument("--count", type=int, default=10_000, help="images per benchmark (default: 10000)")
    parser.add_argument("--batch-size", type=int, default=256, help="(default: 256, the scorer's default)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept (default: 3)")
    parser.add_argument("--only", choices=("idx", "png", "format", "ray"),
                        help="run one of the benchmarks (ray runs only when asked: it needs .[ray])")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="score-speed-") as tmp:
        work = Path(tmp)
        model_dir = args.model_dir or trained_model(work, args.model)
        arch = Predictor.load(model_dir, device="cpu").metadata.get("arch", {}).get("name", "?")
        print(f"model: {arch} ({model_dir}), batch size {args.batch_size}, best of {args.repeat}")
        if args.only in (None, "idx"):
            bench_idx(work, model_dir, args.count, args.batch_size, args.repeat)
        if args.only in (None, "png"):
            bench_pngs(work, model_dir, args.count, args.batch_size, args.repeat)
        if args.only in (None, "format"):
            bench_format(model_dir, args.count, args.batch_size, args.repeat)
        if args.only == "ray":
            bench_ray(work, model_dir, args.count, args.batch_size, args.repeat)


if __name__ == "__main__":
    main()
