"""`python -m app.score --device cuda` scores the real test split's IDX file as `--device cpu` does."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.gpu.agreement import PROB_ATOL, assert_agree

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def score(images_file, model_dir, out_dir, backend: str, device: str) -> tuple[np.ndarray, dict]:
    """Run the scorer; its probabilities [N, 10] in input order and its report's summary."""
    rows_file, report = out_dir / f"{backend}-{device.replace(':', '')}.jsonl", out_dir / f"report-{backend}-{device}"
    result = subprocess.run(
        [sys.executable, "-m", "app.score", str(images_file), "--out", str(rows_file),
         "--model-dir", str(model_dir), "--backend", backend, "--device", device,
         "--batch-size", "256", "--report", str(report), "--force"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"scorer on {device} failed:\n{result.stdout}\n{result.stderr}"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    rows = sorted((row for row in rows if "probabilities" in row), key=lambda row: row["index"])
    probabilities = np.array([list(row["probabilities"].values()) for row in rows])
    return probabilities, json.loads((report / "report.json").read_text())["summary"]


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_scorer_on_cuda_matches_cpu(backend, request, cuda, trained, test_split, tmp_path):
    if backend == "onnx":
        request.getfixturevalue("onnx_cuda")  # skips with its reason when the provider is missing
    images_file, images, _ = test_split
    model_dir = trained("cnn", cuda)
    on_cpu, cpu_summary = score(images_file, model_dir, tmp_path, backend, "cpu")
    on_cuda, cuda_summary = score(images_file, model_dir, tmp_path, backend, cuda)
    assert cpu_summary["device"] == "cpu"
    assert cuda_summary["device"] == cuda, cuda_summary  # not a fallback to the CPU
    assert len(on_cuda) == len(images) == cuda_summary["images"]
    assert_agree(on_cpu, on_cuda, PROB_ATOL, f"score cnn: {backend} cuda vs cpu")
