"""Parquet output: the CSV's columns, typed, read back by pandas as the CSV reads; written under a
temporary name until complete, so a full disk leaves no file and one WriteError."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scorer import parquet_writer
from scorer.parquet_writer import ParquetWriter
from scorer.row_writer import WriteError
from scorer.writers import make_writer
from tests.scorer.samples import CLASSES, small_disk
from tests.scorer.test_writers import COLUMNS, ODD_ROWS, ROWS, VERSION


def test_parquet_holds_the_csvs_table_typed(tmp_path):
    writer = make_writer(str(tmp_path / "out.parquet"), False, CLASSES)
    writer.emit(writer.format(ROWS + ODD_ROWS))
    writer.close()
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.names == COLUMNS
    assert str(schema.field("index").type) == "int64" and str(schema.field("p_Bag").type) == "double"
    assert str(schema.field("ood_score").type) == "double" and str(schema.field("out_of_distribution").type) == "bool"
    records = pq.read_table(tmp_path / "out.parquet").to_pylist()
    for record, row in zip(records, ROWS + ODD_ROWS, strict=True):
        probabilities = row.get("probabilities") or {}
        assert record == {"source": row["source"], "index": row["index"], "true_label": row["true_label"],
                          "label": row.get("label"), "class_index": row.get("class_index"),
                          "confidence": row.get("confidence"), "ood_score": row.get("ood_score"),
                          "out_of_distribution": row.get("out_of_distribution"),
                          **{f"p_{name}": probabilities.get(name) for name in CLASSES},
                          "error": row.get("error"), "model_version": VERSION}
    frame = pd.read_parquet(tmp_path / "out.parquet")  # as other tools read it, with no option
    assert len(frame) == 5 and frame.loc[4, "confidence"] == 0.1 + 0.2 and frame["error"].isna().sum() == 3


def test_row_groups_and_whole_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_writer, "ROW_GROUP", 4)
    writer = make_writer(str(tmp_path / "out.parquet"), False, CLASSES)
    for _ in range(5):
        writer.emit(writer.format(ROWS))  # 2 rows a batch: a group is written every 2 batches
    assert not (tmp_path / "out.parquet").exists()  # not before the footer
    writer.close()
    metadata = pq.read_metadata(tmp_path / "out.parquet")
    assert metadata.num_rows == 10 and metadata.num_row_groups == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_a_full_disk_leaves_no_parquet_file(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        writer = make_writer(str(disk / "out.parquet"), False, CLASSES)
        with pytest.raises(WriteError, match="No space left on device"):
            for _ in range(1000):
                writer.emit(writer.format(ROWS * 5000))
        writer.close()
        assert list(disk.iterdir()) == []


def test_formatter_only_for_worker_processes():
    assert ParquetWriter(CLASSES).format(ROWS[:1])[0][:4] == ["a.png", None, "Bag", "Bag"]
