"""Single-image v2 inference (Open Inference Protocol) beside POST /predict, same server, same wrk.

Bodies, all one real Fashion-MNIST test image:
  predict-png      POST /predict, image/png body (the baseline)
  v2-bytes-png     POST /v2/models/fashion-mnist/infer, BYTES [1] PNG as binary data, binary output
  v2-fp32-binary   the same route, FP32 [1,1,28,28] as binary data (3136 bytes), binary output
  v2-fp32-json     the same route, FP32 [1,784] as JSON numbers, JSON output
Each level runs the bodies in turn against one gunicorn, repeated, best run kept. The server start,
the wrk runner and the test image come from serve_load.py.

    .venv/bin/python benchmarks/serve_v2.py [--model-dir artifacts] [--seconds 5] [--repeats 2]

Needs `wrk` (apt-get install wrk) and the real sample ($FASHION_MNIST_DIR).
"""
from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, WRK_SCRIPT, model_dir, run_wrk, start, test_image_png  # noqa: E402

INFER = "/v2/models/fashion-mnist/infer"


def v2_binary(inputs: list[dict], data: bytes, outputs: list[str]) -> tuple[bytes, dict]:
    """A binary-data request: the JSON header, then the tensor bytes; its headers."""
    header = json.dumps({"inputs": inputs, "outputs": [
        {"name": name, "parameters": {"binary_data": True}} for name in outputs]}).encode()
    return header + data, {"Content-Type": "application/octet-stream",
                           "Inference-Header-Content-Length": str(len(header))}


def bodies(png: bytes) -> dict[str, tuple[str, bytes, dict]]:
    """name -> (path, body, headers) for each compared request."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32) / np.float32(255)
    element = struct.pack("<I", len(png)) + png  # a BYTES element: 4-byte length, then the bytes
    return {
        "predict-png": ("/predict", png, {"Content-Type": "image/png"}),
        "v2-bytes-png": (INFER, *v2_binary(
            [{"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(element)}}],
            element, ["probabilities"])),
        "v2-fp32-binary": (INFER, *v2_binary(
            [{"name": "image", "datatype": "FP32", "shape": [1, 1, 28, 28], "parameters": {"binary_data_size": 3136}}],
            pixels.astype("<f4").tobytes(), ["probabilities"])),
        "v2-fp32-json": (INFER, json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 784],
                                                          "data": pixels.ravel().tolist()}]}).encode(),
                         {"Content-Type": "application/json"}),
    }


def wrk_script(path: str, headers: dict) -> str:
    """serve_load's wrk script (body from BENCH_BODY, its RESULT line), with this path and headers."""
    lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    return WRK_SCRIPT.replace('wrk.headers["Content-Type"] = "image/png"\n', f'wrk.path = "{path}"\n{lines}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts",
                        help="model folder (default: artifacts; trained on the sample if missing)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: 2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8],
                        help="wrk connections per level (default: 1 8)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run (default: 5)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per level and body; best kept (default: 2)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = model_dir(args.model_dir, work)
        test_image_png(work / "image.png")
        cases = bodies((work / "image.png").read_bytes())
        files = {}
        for name, (path, body, headers) in cases.items():
            (work / f"{name}.body").write_bytes(body)
            (work / f"{name}.lua").write_text(wrk_script(path, headers))
            files[name] = (work / f"{name}.body", work / f"{name}.lua")
        process, url = start("ours", {"MODEL_DIR": str(model), "WEB_CONCURRENCY": str(args.workers),
                                      "LOG_LEVEL": "warning"}, work)
        try:
            print(f"# {args.workers} gunicorn workers, wrk, {args.seconds}s x best of {args.repeats}")
            print(f"{'connections':>11} {'body':>15} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs /predict':>11}")
            for concurrency in args.concurrency:
                best = {}
                for _ in range(args.repeats):
                    for name, (body, script) in files.items():
                        result = run_wrk(url, concurrency, args.seconds, body, script)
                        if result["errors"]:
                            raise SystemExit(f"{name}: {result['errors']} errors")
                        if name not in best or result["rps"] > best[name]["rps"]:
                            best[name] = result
                for name, result in best.items():
                    ratio = result["rps"] / best["predict-png"]["rps"]
                    print(f"{concurrency:>11} {name:>15} {result['rps']:>8.0f} {result['p50']:>7.2f} "
                          f"{result['p99']:>7.2f} {ratio:>11.2f}")
        finally:
            process.terminate()
            process.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
