"""The batch scorer's writers: plain CSV (header first, model_version column) and JSON Lines (one
prediction object per line), read back as other tools read them; stdout; no overwrite without
--force; a full disk (a real small tmpfs, /dev/full) leaves whole lines and one WriteError."""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from scorer.row_writer import WriteError
from scorer.writers import CsvWriter, JsonlWriter, OutputExists, make_writer, writer_class
from tests.scorer.samples import CLASSES, small_disk

VERSION = "abc123def456"
PREDICTION = {"label": "Bag", "class_index": 8, "confidence": 0.75,
              "probabilities": {name: (0.75 if name == "Bag" else 0.25 / 9) for name in CLASSES},
              "ood_score": 3.5, "out_of_distribution": True}
ROWS = [{"source": "a.png", "index": None, "true_label": "Bag", **PREDICTION, "model_version": VERSION},
        {"source": "x.npy", "index": 3, "true_label": None, "error": "not a readable image",
         "model_version": VERSION}]
# names other tools must take as they are: commas, quotes, line breaks
ODD_ROWS = [{"source": 'dir,x/"a".png', "index": None, "true_label": None, **PREDICTION, "model_version": VERSION},
            {"source": "b\nc.png", "index": 0, "true_label": "Bag", "error": 'bad "header", line\r\n2',
             "model_version": VERSION},
            {"source": "c.png", "index": 7, "true_label": None, **PREDICTION, "confidence": 0.1 + 0.2,
             "model_version": VERSION}]
COLUMNS = ["source", "index", "true_label", "label", "class_index", "confidence", "ood_score",
           "out_of_distribution", *(f"p_{name}" for name in CLASSES), "error", "model_version"]


def write(path, rows) -> str:
    writer = make_writer(str(path), False, CLASSES)
    writer.emit(writer.format(rows))
    writer.close()
    return path.read_bytes().decode("utf-8")  # as written: a \r inside a quoted cell stays


def test_csv_is_header_then_one_row_per_image(tmp_path):
    text = write(tmp_path / "out.csv", ROWS + ODD_ROWS)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["source"] for row in rows] == [row["source"] for row in ROWS + ODD_ROWS]
    assert all(list(row) == COLUMNS and row["model_version"] == VERSION for row in rows)
    assert rows[0]["label"] == "Bag" and rows[0]["class_index"] == "8" and rows[0]["index"] == ""
    assert float(rows[0]["p_Bag"]) == 0.75 and float(rows[0]["p_T-shirt/top"]) == 0.25 / 9
    assert rows[0]["error"] == "" and rows[1]["error"] == "not a readable image" and rows[1]["label"] == ""
    assert rows[3]["error"] == 'bad "header", line\r\n2' and float(rows[4]["confidence"]) == 0.1 + 0.2
    assert float(rows[0]["ood_score"]) == 3.5 and rows[0]["out_of_distribution"] == "True"
    assert rows[1]["ood_score"] == "" and rows[1]["out_of_distribution"] == ""


def test_pandas_reads_the_csv_with_no_option(tmp_path):
    write(tmp_path / "out.csv", ROWS + ODD_ROWS)
    frame = pd.read_csv(tmp_path / "out.csv")
    assert list(frame.columns) == COLUMNS and len(frame) == 5
    assert (frame["model_version"] == VERSION).all()
    assert frame["source"].tolist() == [row["source"] for row in ROWS + ODD_ROWS]
    assert frame.loc[0, "label"] == "Bag" and frame.loc[0, "p_Bag"] == 0.75
    assert frame["error"].isna().tolist() == ["error" not in row for row in ROWS + ODD_ROWS]


def test_an_empty_run_is_a_csv_with_its_header_only(tmp_path):
    assert write(tmp_path / "out.csv", []) == ",".join(COLUMNS) + "\n"
    assert pd.read_csv(tmp_path / "out.csv").empty


def test_csv_text_is_the_csv_modules(tmp_path):
    """Quoting as csv.writer quotes, floats at full precision (their shortest exact text)."""
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(
        [[row.get(key) for key in COLUMNS[:8]] + [(row.get("probabilities") or {}).get(name) for name in CLASSES]
         + [row.get("error"), row.get("model_version")] for row in ROWS + ODD_ROWS])
    assert write(tmp_path / "out.csv", ROWS + ODD_ROWS).split("\n", 1)[1] == expected.getvalue()


def test_jsonl_is_one_prediction_object_per_line(tmp_path):
    lines = write(tmp_path / "out.jsonl", ROWS + ODD_ROWS).splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5 and all(record["model_version"] == VERSION for record in records)
    assert records[0] == {"source": "a.png", "true_label": "Bag", **PREDICTION, "model_version": VERSION}
    assert records[1] == {"source": "x.npy", "index": 3, "error": "not a readable image", "model_version": VERSION}
    assert all(("error" in record) != ("label" in record) for record in records)  # a prediction or an error
    frame = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert len(frame) == 5 and (frame["model_version"] == VERSION).all()


def test_stdout_is_json_lines(capsys):
    writer = make_writer("-", False, CLASSES)
    writer.emit(writer.format(ROWS[:1]))
    writer.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["label"] == "Bag"


def test_no_overwrite_without_force(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious")
    with pytest.raises(OutputExists, match="--force"):
        make_writer(str(out), False, CLASSES)
    assert out.read_text() == "precious"
    make_writer(str(out), True, CLASSES).close()
    assert out.read_text().startswith("source,index,")


@pytest.mark.parametrize("target, kind", [("a.csv", CsvWriter), ("A.CSV", CsvWriter), ("a.jsonl", JsonlWriter),
                                          ("a.ndjson", JsonlWriter), ("-", JsonlWriter)])
def test_format_by_extension(target, kind):
    assert writer_class(target) is kind


@pytest.mark.parametrize("target", ["out.txt", "out", "out.json"])
def test_unknown_format_refused(target):
    with pytest.raises(ValueError, match=".csv, .jsonl or .parquet"):
        writer_class(target)


def test_a_full_disk_leaves_whole_lines_and_one_error(tmp_path):
    """A real 64 KiB file system: the batch that does not fit is cut back, not left half written."""
    with small_disk(tmp_path / "disk") as disk:
        for kind in ("out.csv", "out.jsonl"):
            writer = make_writer(str(disk / kind), False, CLASSES)
            with pytest.raises(WriteError, match=f"cannot write {disk / kind}: No space left on device"):
                for _ in range(10_000):
                    writer.emit(writer.format(ROWS * 10))
            writer.close()
            text = (disk / kind).read_text()
            assert text.endswith("\n") and len(text) > 20_000
            if kind == "out.csv":
                assert len(pd.read_csv(disk / kind)) == text.count("\n") - 1
            else:
                assert all(json.loads(line)["model_version"] == VERSION for line in text.splitlines())
            (disk / kind).unlink()


def test_a_full_device_on_stdout_is_a_write_error(monkeypatch):
    with open("/dev/full", "w") as full:
        monkeypatch.setattr("sys.stdout", full)
        with pytest.raises(WriteError, match="cannot write stdout: No space left on device"):
            writer = make_writer("-", False, CLASSES)
            writer.emit(writer.format(ROWS))


def test_an_output_that_cannot_be_created_is_a_write_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match="cannot write .*/file/out.csv: File exists"):
        make_writer(str(tmp_path / "file" / "out.csv"), False, CLASSES)
