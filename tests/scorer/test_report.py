"""The batch scorer's report: accuracy, per-class accuracy and confusion matrix, as text, JSON
and PNG (and a clear message when matplotlib is missing)."""
from __future__ import annotations

import json
import os
import sys

import pytest

from scorer.report import ReportError, evaluate, format_report, write_report
from scorer.row_writer import WriteError
from tests.scorer.samples import CLASSES, fill, small_disk


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


@pytest.mark.parametrize("labelled", [False, True])
def test_a_full_disk_is_a_write_error_and_no_half_file(tmp_path, labelled):
    evaluation = evaluate([0, 1], [0, 1], CLASSES) if labelled else None
    with small_disk(tmp_path / "disk") as disk:
        (disk / "r").mkdir()
        fill(disk)
        if labelled:  # room for report.json, not for the PNGs
            os.truncate(disk / "filler", (disk / "filler").stat().st_size - 8192)
        with pytest.raises(WriteError, match="No space left on device"):
            write_report(disk / "r", {"summary": {"images": 2}, "evaluation": evaluation})
        left = sorted(p.name for p in (disk / "r").iterdir())
        assert left == (["report.json"] if labelled else [])  # whole files only, no .partial
        if labelled:
            assert json.loads((disk / "r" / "report.json").read_text())["evaluation"]["correct"] == 2
