"""The output's format by its name: CSV, JSON Lines (`-` for stdout) or Parquet; an existing file is
kept unless --force."""
from __future__ import annotations

from pathlib import Path

from scorer.csv_writer import CsvWriter
from scorer.jsonl_writer import JsonlWriter
from scorer.row_writer import RowWriter


class OutputExists(Exception):
    """The output file is there already and --force was not given."""


def check_output(target: str, force: bool) -> type[RowWriter]:
    """The writer class for `target` (ValueError for an unknown format), refusing an existing file
    without force (OutputExists). The scorer asks this before it loads the model."""
    writer = writer_class(target)
    if target != "-" and Path(target).exists() and not force:
        raise OutputExists(f"{target} exists; pass --force to overwrite it")
    return writer


def writer_class(target: str) -> type[RowWriter]:
    """CSV for `*.csv`, JSON Lines for `*.jsonl` / `*.ndjson` / `-`, Parquet for `*.parquet`;
    ValueError for anything else (and for Parquet without pyarrow)."""
    name = target.lower()
    if name.endswith(".csv"):
        return CsvWriter
    if target == "-" or name.endswith((".jsonl", ".ndjson")):
        return JsonlWriter
    if name.endswith(".parquet"):
        from scorer.parquet_writer import ParquetWriter  # pyarrow only when asked for

        return ParquetWriter
    raise ValueError(f"cannot tell the output format of {target!r}: use a .csv, .jsonl or .parquet name, or -")


def make_writer(target: str, force: bool, classes: list[str]) -> RowWriter:
    """The writer for `target`, checked by `check_output`, on its stream."""
    return check_output(target, force).open(classes, target)
