"""`python -m scorer --device cuda` scores the real test split as `--device cpu` does: its IDX
file (read in the main process) and the same images as PNG files (decoded by worker processes
forked from a parent that holds the model on the GPU)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.gpu.agreement import PROB_ATOL, assert_agree

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def score(inputs, model_dir, out_dir, backend: str, device: str) -> tuple[np.ndarray, dict]:
    """Run the scorer; its probabilities [N, 10] in input order and its report's summary."""
    rows_file, report = out_dir / f"{backend}-{device.replace(':', '')}.jsonl", out_dir / f"report-{backend}-{device}"
    result = subprocess.run(
        [sys.executable, "-m", "scorer", str(inputs), "--out", str(rows_file), "--workers", "2",
         "--model-dir", str(model_dir), "--backend", backend, "--device", device,
         "--batch-size", "256", "--report", str(report), "--force"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"scorer on {device} failed:\n{result.stdout}\n{result.stderr}"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    rows = sorted((row for row in rows if "probabilities" in row),
                  key=lambda row: (str(row.get("source")), row.get("index") or 0))
    probabilities = np.array([list(row["probabilities"].values()) for row in rows])
    return probabilities, json.loads((report / "report.json").read_text())["summary"]


@pytest.fixture(scope="module")
def png_folder(test_split, tmp_path_factory):
    """The 300 test images as PNG files, named in their IDX order."""
    folder = tmp_path_factory.mktemp("png")
    for i, image in enumerate(test_split[1]):
        Image.fromarray(image, mode="L").save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize("source", ["idx", "png"])
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_scorer_on_cuda_matches_cpu(backend, source, request, cuda, trained, test_split, tmp_path):
    if backend == "onnx":
        request.getfixturevalue("onnx_cuda")  # skips with its reason when the provider is missing
    images_file, images, _ = test_split
    inputs = images_file if source == "idx" else request.getfixturevalue("png_folder")
    model_dir = trained("cnn", cuda)
    on_cpu, cpu_summary = score(inputs, model_dir, tmp_path, backend, "cpu")
    on_cuda, cuda_summary = score(inputs, model_dir, tmp_path, backend, cuda)
    assert cpu_summary["device"] == "cpu"
    assert cuda_summary["device"] == cuda, cuda_summary  # not a fallback to the CPU
    assert len(on_cuda) == len(images) == cuda_summary["images"]
    assert_agree(on_cpu, on_cuda, PROB_ATOL, f"score cnn {source}: {backend} cuda vs cpu")
