"""Write the batch scorer's rows: CSV or JSON Lines by the output's extension, `-` for stdout.

One row per image in input order. The model version is written once, at the top (a `#` comment
line in CSV, a first `{"model": ...}` line in JSONL). Each batch goes out as whole lines in one
write and is flushed, so a run stopped with Ctrl-C leaves only complete lines.
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


def open_stream(target: str, force: bool) -> TextIO:
    """The stream rows go to: stdout for `-`, else a new file (an existing one only with force)."""
    if target == "-":
        return sys.stdout
    path = Path(target)
    if path.exists() and not force:
        raise OutputExists(f"{target} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8", newline="")


class RowWriter:
    """Base: holds the stream and the class names; `write` takes a batch of row dicts."""

    def __init__(self, stream: TextIO, classes: list[str], model: dict) -> None:
        self.stream, self.classes = stream, classes
        self._emit(self.header(model))

    def header(self, model: dict) -> str:
        raise NotImplementedError

    def write(self, rows: list[dict]) -> None:
        raise NotImplementedError

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()


class CsvWriter(RowWriter):
    """Columns: source, index, true_label, label, class_index, confidence, p_<class> x10, error."""

    def header(self, model: dict) -> str:
        comment = "# " + ", ".join(f"{key}: {value}" for key, value in model.items()) + "\n"
        return comment + self._lines([[*FIELDS, *(f"p_{name}" for name in self.classes), "error"]])

    def write(self, rows: list[dict]) -> None:
        empty: dict = {}
        self._emit(self._lines(
            [[*(row.get(key) for key in FIELDS),
              *((row.get("probabilities") or empty).get(name) for name in self.classes), row.get("error")]
             for row in rows]))

    @staticmethod
    def _lines(cells: list[list]) -> str:
        """CSV text of the rows (None is an empty cell)."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(cells)
        return buffer.getvalue()


class JsonlWriter(RowWriter):
    """One JSON object per line; the first line is `{"model": {...}}`."""

    def header(self, model: dict) -> str:
        return json.dumps({"model": {**model, "classes": self.classes}}) + "\n"

    def write(self, rows: list[dict]) -> None:
        self._emit("".join(json.dumps({key: value for key, value in row.items() if value is not None}) + "\n"
                           for row in rows))


def writer_class(target: str) -> type[RowWriter]:
    """CSV for `*.csv`, JSON Lines for `*.jsonl` / `*.ndjson` / `-`; ValueError for anything else."""
    name = target.lower()
    if name.endswith(".csv"):
        return CsvWriter
    if target == "-" or name.endswith((".jsonl", ".ndjson")):
        return JsonlWriter
    raise ValueError(f"cannot tell the output format of {target!r}: use a .csv or .jsonl name, or -")


def make_writer(target: str, force: bool, classes: list[str], model: dict) -> RowWriter:
    """The writer for `target`, on a stream opened per `open_stream`."""
    return writer_class(target)(open_stream(target, force), classes, model)
