"""The batch scorer's writers (CSV, JSON Lines, stdout) and its report."""
from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from app.score.writers import CsvWriter, JsonlWriter, OutputExists, make_writer, writer_class
from app.score.report import ReportError, evaluate, format_report, write_report
from tests.app.score.samples import CLASSES

MODEL = {"model": "fashion-mnist", "version": "abc123def456"}
PREDICTION = {"label": "Bag", "class_index": 8, "confidence": 0.75,
              "probabilities": {name: (0.75 if name == "Bag" else 0.25 / 9) for name in CLASSES}}
ROWS = [{"source": "a.png", "index": None, "true_label": "Bag", **PREDICTION},
        {"source": "x.npy", "index": 3, "true_label": None, "error": "not a readable image"}]


def test_csv_rows(tmp_path):
    writer = make_writer(str(tmp_path / "out.csv"), False, CLASSES, MODEL)
    writer.write(ROWS)
    writer.close()
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "# model: fashion-mnist, version: abc123def456"
    rows = list(csv.DictReader(lines[1:]))
    assert rows[0]["source"] == "a.png" and rows[0]["label"] == "Bag" and rows[0]["class_index"] == "8"
    assert float(rows[0]["p_Bag"]) == 0.75 and float(rows[0]["p_T-shirt/top"]) == pytest.approx(0.25 / 9)
    assert rows[0]["error"] == "" and rows[0]["index"] == ""
    assert rows[1]["index"] == "3" and rows[1]["error"] == "not a readable image" and rows[1]["label"] == ""


def test_csv_text_is_the_csv_modules(tmp_path):
    """The writer joins most lines itself: the text must be exactly what csv.writer makes, quoting
    included, for plain rows, error rows and names with commas, quotes and line breaks."""
    rows = [*ROWS, {"source": 'dir,x/"a".png', "index": None, "true_label": None, **PREDICTION},
            {"source": "b\nc.png", "index": 0, "true_label": "Bag", "error": 'bad "header", line\r\n2'},
            {"source": "c.png", "index": 7, "true_label": None, **PREDICTION, "confidence": 0.1 + 0.2}]
    writer = make_writer(str(tmp_path / "out.csv"), False, CLASSES, MODEL)
    writer.write(rows)
    writer.close()
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(
        [[row.get(key) for key in ("source", "index", "true_label", "label", "class_index", "confidence")]
         + [(row.get("probabilities") or {}).get(name) for name in CLASSES] + [row.get("error")] for row in rows])
    assert (tmp_path / "out.csv").read_bytes().decode().split("\n", 2)[2] == expected.getvalue()


def test_jsonl_rows(tmp_path):
    writer = make_writer(str(tmp_path / "out.jsonl"), False, CLASSES, MODEL)
    writer.write(ROWS)
    writer.close()
    header, first, second = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert header == {"model": {**MODEL, "classes": CLASSES}}
    assert first == {"source": "a.png", "true_label": "Bag", **PREDICTION}
    assert second == {"source": "x.npy", "index": 3, "error": "not a readable image"}


def test_stdout(capsys):
    writer = make_writer("-", False, CLASSES, MODEL)
    writer.write(ROWS[:1])
    writer.close()
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[1])["label"] == "Bag"


def test_no_overwrite_without_force(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious")
    with pytest.raises(OutputExists, match="--force"):
        make_writer(str(out), False, CLASSES, MODEL)
    assert out.read_text() == "precious"
    make_writer(str(out), True, CLASSES, MODEL).close()
    assert out.read_text().startswith("# model")


@pytest.mark.parametrize("target, kind", [("a.csv", CsvWriter), ("A.CSV", CsvWriter), ("a.jsonl", JsonlWriter),
                                          ("a.ndjson", JsonlWriter), ("-", JsonlWriter)])
def test_format_by_extension(target, kind):
    assert writer_class(target) is kind


@pytest.mark.parametrize("target", ["out.txt", "out", "out.json"])
def test_unknown_format_refused(target):
    with pytest.raises(ValueError, match=".csv or .jsonl"):
        writer_class(target)


def test_evaluate_and_format():
    report = evaluate([0, 0, 1, 1, 9], [0, 1, 1, 1, 8], CLASSES)
    assert report["count"] == 5 and report["correct"] == 3 and report["accuracy"] == pytest.approx(0.6)
    assert report["per_class"]["T-shirt/top"] == {"count": 2, "correct": 1, "accuracy": 0.5}
    assert report["per_class"]["Dress"] == {"count": 0, "correct": 0, "accuracy": None}
    assert report["confusion"][0][1] == 1 and report["confusion"][9][8] == 1
    assert sum(map(sum, report["confusion"])) == 5
    text = format_report(report)
    assert "accuracy: 0.6000 (3/5" in text and "Dress" in text and "n/a" in text


def test_write_report_json_and_png(tmp_path):
    evaluation = evaluate([0, 1, 2], [0, 1, 1], CLASSES)
    written = write_report(tmp_path / "r", {"summary": {"images": 3}, "evaluation": evaluation})
    assert sorted(p.name for p in written) == ["confusion.png", "per_class.png", "report.json"]
    assert json.loads((tmp_path / "r" / "report.json").read_text())["evaluation"]["correct"] == 2
    assert (tmp_path / "r" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_report_without_labels_has_no_png(tmp_path):
    written = write_report(tmp_path, {"summary": {"images": 3}, "evaluation": None})
    assert [p.name for p in written] == ["report.json"]


def test_report_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    """The slim serving image has no matplotlib: hidden here (None in sys.modules fails the import)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    evaluation = evaluate([0], [0], CLASSES)
    with pytest.raises(ReportError, match=r"pip install 'fashion-mnist-serving\[report\]'"):
        write_report(tmp_path, {"summary": {}, "evaluation": evaluation})
    assert json.loads((tmp_path / "report.json").read_text())["evaluation"]["accuracy"] == 1.0
