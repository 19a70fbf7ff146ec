"""Write the batch scorer's rows: CSV or JSON Lines by the output's extension, `-` for stdout.

One row per image in input order. The model version is written once, at the top (a `#` comment
line in CSV, a first `{"model": ...}` line in JSONL). Each batch goes out as whole lines in one
write and is flushed, so a run stopped with Ctrl-C leaves only complete lines. Formatting
(`format`, rows to text) is apart from writing (`emit`): the scorer's worker processes format
their rows with a writer that has no stream, and the main process emits the text.
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

    def __init__(self, classes: list[str], stream: TextIO | None = None, model: dict | None = None) -> None:
        self.stream, self.classes = stream, classes
        if stream is not None:
            self.emit(self.header(model or {}))

    def header(self, model: dict) -> str:
        raise NotImplementedError

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


def number_texts(row: dict, classes: list[str]) -> tuple[str, list[str]] | None:
    """The text of the row's confidence and of its probabilities in class order, or None for a row
    without them. A float's text is `str`, as the csv and json modules write a finite float; the
    confidence, one of the probabilities, is formatted once (float formatting is most of a row's cost)."""
    probabilities = row.get("probabilities")
    if not probabilities:
        return None
    values = [probabilities[name] for name in classes]
    texts = list(map(str, values))
    index, confidence = row.get("class_index"), row.get("confidence")
    same = type(index) is int and 0 <= index < len(values) and values[index] is confidence
    return (texts[index] if same else str(confidence)), texts


class CsvWriter(RowWriter):
    """Columns: source, index, true_label, label, class_index, confidence, p_<class> x10, error."""

    def header(self, model: dict) -> str:
        comment = "# " + ", ".join(f"{key}: {value}" for key, value in model.items()) + "\n"
        return comment + self._lines([[*FIELDS, *(f"p_{name}" for name in self.classes), "error"]])

    def format(self, rows: list[dict]) -> str:
        # Lines are joined here rather than by the csv module (twice as fast); a row whose text
        # needs quoting goes through the csv module, so the output is the same either way.
        no_numbers = "," * (len(self.classes) + 1)  # empty confidence and probabilities
        lines = []
        for row in rows:
            source, true_label, label, error = (row.get("source"), row.get("true_label"), row.get("label"),
                                                row.get("error"))
            text = f"{source}{true_label}{label}{error}"
            if "," in text or '"' in text or "\n" in text or "\r" in text:
                lines.append(self._lines([self._cells(row)]))
                continue
            index, class_index = row.get("index"), row.get("class_index")
            numbers = number_texts(row, self.classes)
            lines.append(f"{source},{'' if index is None else index},{true_label or ''},{label or ''},"
                         f"{'' if class_index is None else class_index},"
                         + (f"{numbers[0]},{','.join(numbers[1])}," if numbers else no_numbers)
                         + f"{error or ''}\n")
        return "".join(lines)

    def _cells(self, row: dict) -> list:
        """The row's cells in column order (None: an empty cell)."""
        probabilities = row.get("probabilities") or {}
        return [*(row.get(key) for key in FIELDS), *(probabilities.get(name) for name in self.classes),
                row.get("error")]

    @staticmethod
    def _lines(cells: list[list]) -> str:
        """CSV text of the rows (None is an empty cell)."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(cells)
        return buffer.getvalue()


class JsonlWriter(RowWriter):
    """One JSON object per line (keys with a None value left out); the first line is `{"model": {...}}`."""

    def header(self, model: dict) -> str:
        return json.dumps({"model": {**model, "classes": self.classes}}) + "\n"

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


def make_writer(target: str, force: bool, classes: list[str], model: dict) -> RowWriter:
    """The writer for `target`, checked by `check_output`, on its stream."""
    return check_output(target, force)(classes, open_stream(target), model)
