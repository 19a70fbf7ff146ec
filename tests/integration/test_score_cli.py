"""`python -m scorer` end to end with a model trained on the real sample: every input kind in one
run, labels and accuracy, error rows, --strict, --force, stdout, --report, Ctrl-C, a full disk and
folders that cannot be read."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scorer.cli import main
from tests.scorer.samples import (CLASSES, fill, real_sample, small_disk, unprivileged, write_class_folders,
                                    write_csv, write_idx_pair)
from tests.integration.conftest import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 20)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample):
    """The same 20 real images as every input kind, plus a broken file and a missing path."""
    images, labels = sample
    root = tmp_path_factory.mktemp("inputs")
    write_class_folders(root / "folders", images, labels, formats=("png", "bmp", "tiff"))
    (root / "folders" / "bag" / "zz-broken.png").write_bytes(b"not an image")
    np.save(root / "u8.npy", images)
    np.save(root / "float.npy", images.astype(np.float64) / 255.0)
    return {
        "folders": root / "folders",
        "idx_gz": write_idx_pair(root / "gz", images, labels, gz=True),
        "idx_raw": write_idx_pair(root / "raw", images, None, gz=False),
        "npy_u8": root / "u8.npy",
        "npy_float": root / "float.npy",
        "csv_labelled": write_csv(root / "labelled.csv", images, labels),
        "csv_plain": write_csv(root / "plain.csv", images, None),
        "missing": root / "no-such-file.png",
    }


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def trained_model_version(model_dir) -> str:
    return json.loads((model_dir / "model.json").read_text())["version"]


def score(*args, model_dir) -> int:
    return main([*map(str, args), "--model-dir", str(model_dir), "--device", "cpu"])


def test_every_input_kind_gives_the_same_predictions(tmp_path, inputs, sample, trained_model_dir, capsys):
    images, labels = sample
    out = tmp_path / "out.jsonl"
    order = ["folders", "idx_gz", "idx_raw", "npy_u8", "npy_float", "csv_labelled", "csv_plain", "missing"]
    assert score(*(inputs[k] for k in order), "--out", out, "--batch-size", "8", "--workers", "2",
                 model_dir=trained_model_dir) == 0
    rows = read_jsonl(out)
    version = trained_model_version(trained_model_dir)
    assert len(rows) == 21 + 20 * 6 + 1 and all(row["model_version"] == version for row in rows)
    folder_rows, rows = rows[:21], rows[21:]
    broken = [r for r in folder_rows if r["source"].endswith("zz-broken.png")]
    assert len(broken) == 1 and "not a readable image" in broken[0]["error"]
    assert rows[-1] == {"source": str(inputs["missing"]), "error": "no such file or directory",
                        "model_version": version}
    by_file = {int(r["source"].rsplit("/", 1)[-1][:4]): r for r in folder_rows if "error" not in r}
    for kind_index, kind in enumerate(order[1:-1]):
        block = rows[20 * kind_index:20 * (kind_index + 1)]
        assert [r["source"] for r in block] == [str(inputs[kind])] * 20
        assert [r["index"] for r in block] == list(range(20))
        for i, row in enumerate(block):
            assert row["label"] == by_file[i]["label"]
            for name in CLASSES:
                assert row["probabilities"][name] == pytest.approx(by_file[i]["probabilities"][name], abs=1e-6)
    # labels came from the class folders, the IDX labels file and the CSV label column only
    known = [r for r in [*folder_rows, *rows] if "true_label" in r]
    assert len(known) == 20 * 3 + 1  # the broken file sits in the bag folder
    assert all(r["true_label"] == CLASSES[labels[r["index"]]] for r in rows if "true_label" in r)
    printed = capsys.readouterr()
    assert "2 with errors" in printed.err and "accuracy:" in printed.out


def test_accuracy_matches_training_on_the_real_test_split(tmp_path, fmnist_dir, trained_model_dir, capsys):
    out, report = tmp_path / "out.csv", tmp_path / "report"
    assert score(fmnist_dir / "t10k-images-idx3-ubyte.gz", "--out", out, "--report", report,
                 model_dir=trained_model_dir) == 0
    saved = json.loads((report / "report.json").read_text())
    evaluation = saved["evaluation"]
    trained = json.loads((trained_model_dir / "model.json").read_text())["test_accuracy"]
    assert evaluation["count"] == 300 and abs(evaluation["accuracy"] - trained) <= 1 / 300
    assert sum(stats["count"] for stats in evaluation["per_class"].values()) == 300
    assert saved["summary"]["images"] == 300 and saved["summary"]["errors"] == 0
    assert (report / "confusion.png").stat().st_size > 1000 and (report / "per_class.png").is_file()
    assert saved["summary"]["version"] == trained_model_version(trained_model_dir)  # the run's model
    assert {"model", "backend", "device"} <= saved["summary"].keys()
    assert f"accuracy: {evaluation['accuracy']:.4f}" in capsys.readouterr().out
    # a plain CSV, read with no option: one prediction per image, each naming the model
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    frame = pd.read_csv(out)
    for table in (rows, frame.to_dict("records")):
        assert len(table) == 300
        assert all(row["label"] in CLASSES and 0 <= int(row["class_index"]) < 10 for row in table)
        assert all(row["model_version"] == trained_model_version(trained_model_dir) for row in table)
        assert sum(row["label"] == row["true_label"] for row in table) == evaluation["correct"]
    assert frame["error"].isna().all() and frame["index"].tolist() == list(range(300))


def test_strict_turns_error_rows_into_a_failure(tmp_path, inputs, trained_model_dir):
    args = (inputs["folders"], "--out", tmp_path / "a.csv")
    assert score(*args, model_dir=trained_model_dir) == 0
    assert score(*args, "--strict", "--force", model_dir=trained_model_dir) == 1
    assert score(inputs["npy_u8"], "--out", tmp_path / "b.csv", "--strict", model_dir=trained_model_dir) == 0


def test_existing_output_needs_force(tmp_path, inputs, trained_model_dir, capsys):
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    assert score(inputs["npy_u8"], "--out", out, model_dir=trained_model_dir) == 2
    assert out.read_text() == "keep me" and "--force" in capsys.readouterr().err
    assert score(inputs["npy_u8"], "--out", out, "--force", model_dir=trained_model_dir) == 0
    assert len(out.read_text().splitlines()) == 1 + 20


@pytest.mark.parametrize("args, message", [
    (["--out", "out.txt"], ".csv, .jsonl or .parquet"),
    (["--out", "out.csv", "--model-dir", "/nonexistent"], "model file not found"),
    (["--out", "out.csv", "--device", "banana"], "is not auto, cpu, cuda or cuda:N"),
    (["--out", "out.csv", "--batch-size", "0"], "must be at least 1"),
])
def test_bad_arguments_are_one_line(tmp_path, inputs, args, message):
    result = subprocess.run([sys.executable, "-m", "scorer", str(inputs["npy_u8"]), *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_console_script_writes_jsonl_to_stdout(inputs, trained_model_dir):
    script = os.path.join(os.path.dirname(sys.executable), "fashion-mnist-score")
    if not os.path.exists(script):
        pytest.skip("the project is not installed (pip install -e .) so there is no console script")
    result = subprocess.run([script, str(inputs["idx_gz"]), "--out", "-", "--model-dir", str(trained_model_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 20 and all("label" in row and "model_version" in row for row in rows)
    assert "scored 20 images" in result.stderr and "accuracy:" in result.stderr


def test_ctrl_c_leaves_complete_lines(tmp_path, trained_model_dir):
    """One image per batch makes the run long enough to interrupt in the middle."""
    np.save(tmp_path / "many.npy", np.zeros((200_000, 28, 28), np.uint8))
    out = tmp_path / "out.csv"
    process = subprocess.Popen([sys.executable, "-m", "scorer", str(tmp_path / "many.npy"), "--out", str(out),
                                "--batch-size", "1", "--model-dir", str(trained_model_dir)],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: out.exists() and out.stat().st_size >= 50_000, timeout=30)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=30)[1]
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    text = out.read_text()
    assert text.endswith("\n")
    header, *lines = text.splitlines()
    assert header.startswith("source,index,") and 0 < len(lines) < 200_000
    assert all(len(line.split(",")) == 20 for line in lines)


def test_a_reader_that_stops_early_ends_the_run_quietly(fmnist_dir, trained_model_dir):
    """`--out - | head -1`: the scorer stops at the broken pipe like a Unix tool (exit 141,
    SIGPIPE's code), without a traceback."""
    test_images = str(fmnist_dir / "t10k-images-idx3-ubyte.gz")
    process = subprocess.Popen(
        [sys.executable, "-m", "scorer", test_images, test_images, "--out", "-",
         "--model-dir", str(trained_model_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(process.stdout.readline())["index"] == 0
    process.stdout.close()  # 600 rows do not fit the pipe: the scorer's next write breaks it
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 128 + signal.SIGPIPE, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def run_cli(*args, model_dir, stdout=subprocess.PIPE, prefix=()) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "scorer", *map(str, args), "--model-dir", str(model_dir),
               "--device", "cpu"]
    return subprocess.run(command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl"])
def test_a_full_disk_is_one_line_exit_2_and_whole_lines(tmp_path, fmnist_dir, trained_model_dir, name):
    """The 300 test images do not fit a 64 KiB file system: the run stops at the batch that failed."""
    with small_disk(tmp_path / "disk") as disk:
        result = run_cli(fmnist_dir / "t10k-images-idx3-ubyte.gz", "--out", disk / name, "--batch-size", "16",
                         model_dir=trained_model_dir)
        assert result.returncode == 2
        assert result.stderr == f"error: cannot write {disk / name}: No space left on device\n"
        text = (disk / name).read_text()
    assert text.endswith("\n") and 50 < text.count("\n") < 300
    if name == "out.csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [int(row["index"]) for row in rows] == list(range(len(rows)))
        assert all(len(row) == 20 and row["model_version"] for row in rows)
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert [row["index"] for row in rows] == list(range(len(rows)))


def test_stdout_on_a_full_device_is_one_line_exit_2(fmnist_dir, trained_model_dir):
    with open("/dev/full", "w") as full:
        result = run_cli(fmnist_dir / "t10k-images-idx3-ubyte.gz", "--out", "-", model_dir=trained_model_dir,
                         stdout=full)
    assert result.returncode == 2
    assert result.stderr == "error: cannot write stdout: No space left on device\n"


def test_the_report_on_a_full_disk_is_one_line_exit_2(tmp_path, fmnist_dir, trained_model_dir):
    with small_disk(tmp_path / "disk") as disk:
        fill(disk)
        result = run_cli(fmnist_dir / "t10k-images-idx3-ubyte.gz", "--out", tmp_path / "out.csv",
                         "--report", disk / "report", model_dir=trained_model_dir)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[-1] == \
            f"error: cannot write {disk / 'report' / 'report.json'}: No space left on device"
        assert "Traceback" not in result.stderr and list((disk / "report").iterdir()) == []
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 301  # the rows came first


def test_unreadable_folders_and_missing_paths_are_error_rows_and_fail_strict(tmp_path, inputs, trained_model_dir):
    """As root (CI) the folder is unreadable through setpriv: root without the capabilities that
    bypass file permissions."""
    tree = tmp_path / "tree"
    for name in ("a", "b"):
        (tree / name).mkdir(parents=True)
        for image in sorted(inputs["folders"].glob("*/0*.png"))[:2]:
            (tree / name / image.name).write_bytes(image.read_bytes())
    os.chmod(tree / "b", 0)
    try:
        result = run_cli(tree, tmp_path / "gone", "--out", tmp_path / "out.jsonl", "--strict",
                         model_dir=trained_model_dir, prefix=unprivileged([]))
    finally:
        os.chmod(tree / "b", 0o755)
    assert result.returncode == 1, result.stderr
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [row.get("error") for row in rows] == [None, None, "cannot read the folder: Permission denied",
                                                  "no such file or directory"]
    assert [row["source"] for row in rows[2:]] == [str(tree / "b"), str(tmp_path / "gone")]
    assert "2 with errors" in result.stderr


def test_parquet_output_holds_the_csvs_rows(tmp_path, inputs, trained_model_dir):
    """Image files scored by 2 worker processes (each batch split between them) and arrays."""
    args = (inputs["folders"], inputs["csv_labelled"], "--batch-size", "8", "--workers", "2")
    assert score(*args, "--out", tmp_path / "out.csv", model_dir=trained_model_dir) == 0
    assert score(*args, "--out", tmp_path / "out.parquet", model_dir=trained_model_dir) == 0
    expected = pd.read_csv(tmp_path / "out.csv")
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert len(frame) == len(expected) == 41 and list(frame.columns) == list(expected.columns)
    # the flag's missing value: None in Parquet's bool column, NaN where pandas reads the CSV
    for table in (frame, expected):
        table["out_of_distribution"] = table["out_of_distribution"].astype("boolean")
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
