"""`python -m scorer --engine ray` on a real two-node Ray cluster started on this machine (two
`ray start` raylets of one CPU each): the 300 real test images, as PNG files and as IDX, give the
local engine's rows byte for byte (ood_score to float32's last bit), error rows included; arrays
give the same Parquet table. One cluster serves the whole module (Ray takes 10-20 s to start)."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from scorer.cli import main
from tests.scorer.samples import real_sample, write_class_folders, write_csv, write_idx_pair
from tests.integration.ray_cluster import RAY, LocalRayCluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    with LocalRayCluster(nodes=2, cpus=1) as running:
        yield running


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 300)


def local(*args, model_dir) -> int:
    return main([*map(str, args), "--model-dir", str(model_dir), "--device", "cpu", "--workers", "2"])


def on_ray(cluster, *args, model_dir) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scorer", *map(str, args), "--model-dir", str(model_dir),
               "--device", "cpu", "--engine", "ray", "--ray-address", cluster.address]
    return subprocess.run(command, cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=240)


def test_the_cluster_has_two_nodes(cluster):
    status = subprocess.run([RAY, "status", "--address", cluster.address], env=cluster.env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "2.0 CPU" in status.stdout, status.stdout + status.stderr
    assert status.stdout.count("node_") == 2


def test_pngs_and_idx_give_the_local_engines_rows(tmp_path, sample, cluster, trained_model_dir):
    """300 PNGs in class folders with a corrupt one, the same images as IDX with labels, a missing
    path: the same CSV bytes from both engines, and the same evaluation."""
    images, labels = sample
    write_class_folders(tmp_path / "pngs", images, labels)
    (tmp_path / "pngs" / "bag" / "zz-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    idx = write_idx_pair(tmp_path / "idx", images, labels)
    inputs = [tmp_path / "pngs", idx, tmp_path / "missing.png"]
    assert local(*inputs, "--out", tmp_path / "local.csv", "--batch-size", "64", model_dir=trained_model_dir) == 0
    result = on_ray(cluster, *inputs, "--out", tmp_path / "ray.csv", "--batch-size", "64", "--strict",
                    model_dir=trained_model_dir)
    assert result.returncode == 1, result.stderr  # --strict: the corrupt file and the missing path
    expected = (tmp_path / "local.csv").read_text()
    assert_same_rows((tmp_path / "ray.csv").read_text(), expected)
    lines = expected.splitlines()
    assert len(lines) == 1 + 301 + 300 + 1
    corrupt = [line for line in lines if "zz-corrupt.png" in line]
    assert len(corrupt) == 1 and "not a readable image" in corrupt[0]
    assert "scored 602 images" in result.stderr and "2 with errors" in result.stderr
    assert "/600 labelled images" in result.stdout.splitlines()[0]  # the evaluation, as locally


def test_arrays_to_parquet_match_the_local_engine(tmp_path, sample, cluster, trained_model_dir):
    """.npy and a CSV with a line that does not parse, written as Parquet by both engines."""
    images, labels = sample
    np.save(tmp_path / "images.npy", images[:100])
    csv_path = write_csv(tmp_path / "images.csv", images[:50], labels[:50])
    text = csv_path.read_text().splitlines()
    text[3] = "1,2,3"  # a row of 3 values: an error row for that line alone
    csv_path.write_text("\n".join(text) + "\n")
    inputs = [tmp_path / "images.npy", csv_path, "--batch-size", "32"]
    assert local(*inputs, "--out", tmp_path / "local.parquet", model_dir=trained_model_dir) == 0
    result = on_ray(cluster, *inputs, "--out", tmp_path / "ray.parquet", model_dir=trained_model_dir)
    assert result.returncode == 0, result.stderr
    expected = pq.read_table(tmp_path / "local.parquet")
    got = pq.read_table(tmp_path / "ray.parquet")
    assert got.drop(["ood_score"]).equals(expected.drop(["ood_score"]))
    np.testing.assert_allclose(got["ood_score"].to_numpy(zero_copy_only=False),
                               expected["ood_score"].to_numpy(zero_copy_only=False), rtol=1e-6)
    rows = expected.to_pylist()
    assert len(rows) == 150 and [(row["error"] or "")[:7] for row in rows].count("line 4:") == 1
    assert sum(row["label"] is not None for row in rows) == 149


def assert_same_rows(text: str, expected: str) -> None:
    """The same CSV bytes, except that ood_score may differ in float32's last bit: its reductions
    run in another process on Ray, and onnxruntime does not promise the same summation order there."""
    got, want = (list(csv.DictReader(io.StringIO(t))) for t in (text, expected))
    assert text.splitlines()[0] == expected.splitlines()[0] and len(got) == len(want)
    for row, wanted in zip(got, want):
        assert {k: v for k, v in row.items() if k != "ood_score"} == {k: v for k, v in wanted.items() if k != "ood_score"}
        assert (row["ood_score"] == "") == (wanted["ood_score"] == "")
        if row["ood_score"]:
            assert float(row["ood_score"]) == pytest.approx(float(wanted["ood_score"]), rel=1e-6)
