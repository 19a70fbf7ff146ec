"""Write the batch scorer's rows: CSV or JSON Lines by the output's extension, `-` for stdout.

Plain files other tools read with no option: a CSV whose first line is its header, a JSON Lines
file of prediction objects only; one row per image in input order, the model version in each row
(`model_version`). Each batch goes out as whole lines in one write and is flushed, so a run stopped
with Ctrl-C leaves only complete lines. Formatting (`format`, rows to text) is apart from writing
(`emit`): the scorer's worker processes format their rows with a writer that has no stream, and
the main process emits the text.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TextIO

FIELDS = ("source", "index", "true_label", "label", "class_index", "confidence")


class OutputExists(Exception):
    """The output file is there already and --force was not given."""


def check_output(target: str, force: bool) -> type[RowWriter]:
    """The writer class for `target` (ValueError for an unknown format), refusing an existing file
    without force (OutputExists). The scorer asks this before it loads the model."""
    writer = writer_class(target)
    if target != "-" and Path(target).exists() and not force:
        raise OutputExists(f"{target} exists; pass --force to overwrite it")
    return writer


def open_stream(target: str) -> TextIO:
    """The stream rows go to: stdout for `-`, else the file (its folder made if need be)."""
    if target == "-":
        return sys.stdout
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8", newline="")


class RowWriter:
    """Base: holds the class names and the stream (None: a formatter only, for worker processes);
    `format` turns a batch of row dicts into text, `emit` writes text, `write` does both."""

    def __init__(self, classes: list[str], stream: TextIO | None = None) -> None:
        self.stream, self.classes = stream, classes
        if stream is not None:
            self.emit(self.header())

    def header(self) -> str:
        """What the file starts with, before any row."""
        return ""

    def format(self, rows: list[dict]) -> str:
        """The rows' text: whole lines."""
        raise NotImplementedError

    def write(self, rows: list[dict]) -> None:
        self.emit(self.format(rows))

    def emit(self, text: str) -> None:
        """Write whole lines in one call and flush them (Ctrl-C then leaves only complete lines)."""
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.stream is not sys.stdout:
            self.stream.close()


class CsvWriter(RowWriter):
    """Columns: source, index, true_label, label, class_index, confidence, p_<class> x10, error,
    model_version. An empty cell is a value the row does not have (an image file has no index, an
    error row no prediction)."""

    def header(self) -> str:
        return self._lines([[*FIELDS, *(f"p_{name}" for name in self.classes), "error", "model_version"]])

    def format(self, rows: list[dict]) -> str:
        return self._lines(self._cells(row) for row in rows)

    def _cells(self, row: dict) -> list:
        """The row's cells in column order (None: an empty cell)."""
        probabilities = row.get("probabilities") or {}
        return [*(row.get(key) for key in FIELDS), *(probabilities.get(name) for name in self.classes),
                row.get("error"), row.get("model_version")]

    @staticmethod
    def _lines(rows) -> str:
        """CSV text of the rows; lines end in \n, as the rest of the scorer's text does."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()


class JsonlWriter(RowWriter):
    """One prediction (or error) object per line, keys with a None value left out."""

    def format(self, rows: list[dict]) -> str:
        return "".join(json.dumps({key: value for key, value in row.items() if value is not None}) + "\n"
                       for row in rows)


def writer_class(target: str) -> type[RowWriter]:
    """CSV for `*.csv`, JSON Lines for `*.jsonl` / `*.ndjson` / `-`; ValueError for anything else."""
    name = target.lower()
    if name.endswith(".csv"):
        return CsvWriter
    if target == "-" or name.endswith((".jsonl", ".ndjson")):
        return JsonlWriter
    raise ValueError(f"cannot tell the output format of {target!r}: use a .csv or .jsonl name, or -")


def make_writer(target: str, force: bool, classes: list[str]) -> RowWriter:
    """The writer for `target`, checked by `check_output`, on its stream."""
    return check_output(target, force)(classes, open_stream(target))
