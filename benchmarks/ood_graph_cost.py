"""Where the out-of-distribution detector's /predict CPU goes: the served model beside copies of it
whose ood_score branch is replaced by cheaper graphs, all served side by side with the plain softmax
(benchmarks/ood_eval.py's CPU method: several gunicorns per model taking turns).

The variants keep the model's classifier and replace only the ood branch; their scores are
meaningless, kept far below the model's threshold so that no variant pays for flagging. They tell
how much of the detector's cost is the Python side (the prediction fields, the drift histogram: the
one-node branch), what a Gemm-only branch would cost, what the Conv costs, and what the same kind of
statistics cost when built from MatMuls instead of a Conv.

    .venv/bin/python benchmarks/ood_graph_cost.py --model-dir artifacts --cpu 1200 --copies 4 --burst 10

With --perf, `perf record` (cpu-clock samples, 10 kHz) follows every worker during the measured
requests and each model's CPU per request is split by shared object: the Python interpreter, the
kernel, onnxruntime, the rest. The split is steadier than the totals, which move with each
process's layout and scheduling by a few per cent; perf's own interrupts add about a quarter to
every figure, alike on all servers.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ood_eval import cpu_per_request  # noqa: E402

TINY = 1e-6  # scales a variant's weights: its ood_score stays near 0, below any threshold


def _shift_operators(n: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(identity, forward difference, second difference), zero-padded, [n, n] float32."""
    eye = np.eye(n, dtype=np.float32)
    forward = np.eye(n, k=1, dtype=np.float32) - eye
    second = np.eye(n, k=1, dtype=np.float32) + np.eye(n, k=-1, dtype=np.float32) - 2 * eye
    return eye, forward, second


def branches() -> dict[str, tuple[list, dict]]:
    """name -> (the ood branch's nodes from `image` and `view` to `ood_score`, its initializers)."""
    from onnx import helper as h

    f32, i64 = np.float32, (lambda *axes: np.array(axes, np.int64))
    rng = np.random.default_rng(0)
    eye, forward, second = _shift_operators()
    stack_v = np.vstack([eye, forward, second]) * TINY  # [84, 28]: rows, vertical first and second differences
    stack_h = np.hstack([eye, forward.T, second.T]) * TINY  # [28, 84]: the same along the rows
    tail = [h.make_node("ReduceSumSquare", ["w", "last"], ["squared"], keepdims=0),
            h.make_node("Add", ["squared", "offset"], ["ood_score"])]
    common = {"last": i64(1), "offset": np.array(-1.0, f32)}
    mm = [h.make_node("MatMul", ["stack_v", "image"], ["vert"]), h.make_node("MatMul", ["image", "stack_h"], ["horiz"])]
    for i, (source, axes) in enumerate((("vert", "rows_v"), ("horiz", "rows_h"))):
        mm += [h.make_node("ReduceL1", [source, axes], [f"l1_{i}"], keepdims=0),
               h.make_node("ReduceSumSquare", [source, axes], [f"sq_{i}"], keepdims=0)]
    previous = "centre"
    for i, name in enumerate(("l1_0", "sq_0", "l1_1", "sq_1")):
        mm.append(h.make_node("Gemm", [name, f"w{i}", previous], ["w" if i == 3 else f"acc{i}"]))
        previous = f"acc{i}"
    return {
        "one node (ReduceMin of the image): the Python side": (
            [h.make_node("ReduceMin", ["image", "all"], ["ood_score"], keepdims=0)], {"all": i64(1, 2, 3)}),
        "Gemm (16 projections) + ReduceSumSquare + Add": (
            [h.make_node("Gemm", ["view", "proj"], ["w"], transB=1)] + tail,
            {"proj": (rng.normal(size=(16, 784)) * TINY).astype(f32), **common}),
        "Conv (5 maps) + one reduction": (
            [h.make_node("Conv", ["image", "kernels"], ["maps"], pads=[1, 1, 1, 1]),
             h.make_node("ReduceSumSquare", ["maps", "all"], ["ood_score"], keepdims=0)],
            {"kernels": (rng.normal(size=(5, 1, 3, 3)) * TINY).astype(f32), "all": i64(1, 2, 3)}),
        "Conv (5 maps) + ReduceL1 + Gemm + ReduceSumSquare + Add": (
            [h.make_node("Conv", ["image", "kernels"], ["maps"], pads=[1, 1, 1, 1]),
             h.make_node("ReduceL1", ["maps", "pixels"], ["l1"], keepdims=0),
             h.make_node("Gemm", ["l1", "whiten", "centre"], ["w"])] + tail,
            {"kernels": (rng.normal(size=(5, 1, 3, 3)) * TINY).astype(f32), "pixels": i64(2, 3),
             "whiten": (rng.normal(size=(5, 9)) * TINY).astype(f32), "centre": np.zeros(9, f32), **common}),
        "MatMul-built maps (2 MatMuls, 4 reductions, 4 Gemms) + ReduceSumSquare + Add": (
            mm + tail,
            {"stack_v": stack_v, "stack_h": stack_h, "rows_v": i64(1, 3), "rows_h": i64(1, 2),
             **{f"w{i}": (rng.normal(size=(84, 9)) * TINY).astype(f32) for i in range(4)},
             "centre": np.zeros(9, f32), **common}),
    }


def variant_folder(model_dir: Path, nodes: list, tensors: dict, out: Path) -> Path:
    """A copy of the model folder whose model.onnx has the classifier of the model and `nodes` as
    its ood branch (model.json's sha256 updated, explain.onnx left as it is)."""
    import onnx
    from onnx import numpy_helper

    from training.export import sha256

    model = onnx.load(model_dir / "model.onnx")
    graph = model.graph
    classifier = {"probabilities"}  # the nodes the probabilities depend on, found backwards
    kept = []
    for node in reversed(graph.node):
        if classifier & set(node.output):
            kept.insert(0, node)
            classifier |= set(node.input)
    variant = copy.deepcopy(model)
    del variant.graph.node[:]
    variant.graph.node.extend(kept + nodes)
    used = {name for node in variant.graph.node for name in node.input}
    initializers = [i for i in graph.initializer if i.name in used and i.name not in tensors]
    del variant.graph.initializer[:]
    variant.graph.initializer.extend(initializers + [numpy_helper.from_array(np.asarray(v), k) for k, v in tensors.items()])
    onnx.checker.check_model(variant)
    shutil.copytree(model_dir, out)
    onnx.save(variant, out / "model.onnx")
    card = json.loads((out / "model.json").read_text())
    card["sha256"]["model.onnx"] = sha256(out / "model.onnx")
    (out / "model.json").write_text(json.dumps(card))
    return out


# perf's names of the shared objects shown apart; everything else is "other"
PARTS = {"python": "libpython", "kernel": "[kernel.kallsyms]", "onnxruntime": "onnxruntime_pybind11_state"}


@contextlib.contextmanager
def perf_record(workers: dict, folder: Path):
    """`perf record` on each worker (a key -> pid mapping) while the block runs: folder/<i>.data."""
    recorders = [subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000", "-p", str(pid),
                                   "-o", str(folder / f"{i}.data")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for i, pid in enumerate(workers.values())]
    time.sleep(1.0)  # perf attached before the first measured request
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=120)


def split_by_object(data: Path, requests: int) -> dict[str, float]:
    """µs per request of each PARTS (and "other", "total") in one perf.data file."""
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso", "--no-children", "-g", "none"],
                            capture_output=True, text=True, check=True).stdout
    total = float(re.search(r"Event count \(approx\.\): (\d+)", report).group(1)) / 1e3 / requests  # ns -> µs
    split = dict.fromkeys([*PARTS, "other"], 0.0)
    for share, name in re.findall(r"^\s+([\d.]+)%\s+(\S+)", report, re.MULTILINE):
        part = next((key for key, marker in PARTS.items() if marker in name), "other")
        split[part] += float(share) / 100 * total
    return {**split, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--cpu", type=int, default=1200, metavar="N", help="requests to each server")
    parser.add_argument("--copies", type=int, default=4, help="gunicorns per model")
    parser.add_argument("--burst", type=int, default=10, help="requests a server takes in its turn")
    parser.add_argument("--perf", action="store_true", help="also split each model's CPU by shared object (perf)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    also = {name: variant_folder(args.model_dir, nodes, tensors, folder / f"variant{i}")
            for i, (name, (nodes, tensors)) in enumerate(branches().items())}
    keys: list = []

    def around(workers: dict):
        keys.extend(workers)
        return perf_record(workers, folder)

    try:
        cpu = cpu_per_request(args.model_dir, args.cpu, args.copies, args.burst, also, around if args.perf else None)
        splits = {key: split_by_object(folder / f"{i}.data", args.cpu) for i, key in enumerate(keys)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"/predict worker CPU per request ({args.copies} gunicorns of 1 worker per model, turns of "
          f"{args.burst}, {args.cpu} requests each), to the plain softmax:")
    first = next(iter(cpu["us_per_request"]))
    for name, value in cpu["us_per_request"].items():
        ratio, stage = cpu["ratio"].get(name, 1.0), cpu["model_stage_us"][name]
        print(f"  {ratio:.3f}  {value:5.0f} µs  model stage {stage:5.1f} µs "
              f"({stage - cpu['model_stage_us'][first]:+5.1f})  {name}  (copies: "
              + " ".join(f"{r:.3f}" for r in cpu["copies_to_before"][name]) + ")")
    if splits:
        columns = ["total", *PARTS, "other"]
        print("\nunder perf, µs per request by shared object (mean of the copies; the difference to before):")
        print("| ood branch | " + " | ".join(columns) + " |\n| --- |" + " --- |" * len(columns))
        models = list(cpu["us_per_request"])
        mean = {name: {c: sum(splits[key][c] for key in splits if key[0] == name) / args.copies for c in columns}
                for name in models}
        for name in models:
            cells = [f"{mean[name][c]:.0f}" + ("" if name == models[0] else f" ({mean[name][c] - mean[models[0]][c]:+.0f})")
                     for c in columns]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
