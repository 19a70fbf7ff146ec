"""Rows to a Parquet file (`--out FILE.parquet`), for runs too large for a CSV to be handy: the
CSV's columns, typed (index and class_index int64, confidence, ood_score and p_<class> float64,
out_of_distribution bool, the others strings; a value the row does not have is null), in row
groups of up to 65,536 rows.

A Parquet file can be read only once its footer is written, so the rows go to `.FILE.partial`
beside it, renamed to FILE when the run ends (also after Ctrl-C: the rows scored so far). A write
that fails (a full disk) removes the partial file: no output, one `WriteError`. pyarrow comes with
the `ray` extra (Ray Data's own dependency) or on its own.
"""
from __future__ import annotations

import os
from pathlib import Path

from scorer.row_writer import RowWriter, write_error

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    raise ValueError("Parquet output needs pyarrow: pip install 'fashion-mnist-serving[ray]' "
                     "(or pyarrow alone)") from None

ROW_GROUP = 65_536  # rows per row group: Parquet readers do well with large groups
_TYPES = {"index": pa.int64(), "class_index": pa.int64(), "confidence": pa.float64(),
          "ood_score": pa.float64(), "out_of_distribution": pa.bool_()}


class ParquetWriter(RowWriter):
    """`format` gives the batch's cells (lists: they join as text does and travel from worker
    processes cheaply); `emit` collects them into row groups; `close` writes the footer and puts the
    file in place."""

    def __init__(self, classes: list[str], path: Path | None = None, target: str = "-") -> None:
        self.classes, self.target, self.stream, self.fd = classes, target, None, None
        types = {**{f"p_{name}": pa.float64() for name in classes}, **_TYPES}
        self.schema = pa.schema([(name, types.get(name, pa.string())) for name in self.columns()])
        self.pending: list[list] = []
        self.file: pq.ParquetWriter | None = None
        self.partial = None if path is None else path.with_name(f".{path.name}.partial")
        if self.partial is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.file = pq.ParquetWriter(str(self.partial), self.schema)
            except OSError as exc:
                raise write_error(target, exc) from None

    @classmethod
    def open(cls, classes: list[str], target: str) -> "ParquetWriter":
        return cls(classes, Path(target), target)

    def format(self, rows: list[dict]) -> list[list]:
        return [self.cells(row) for row in rows]

    def emit(self, cells: list[list]) -> None:
        self.pending += cells
        if len(self.pending) >= ROW_GROUP:
            self._write()

    def _write(self) -> None:
        columns = list(zip(*self.pending)) or [()] * len(self.schema)
        table = pa.Table.from_arrays([pa.array(column, type=field.type)
                                      for column, field in zip(columns, self.schema)], schema=self.schema)
        self.pending = []
        try:
            self.file.write_table(table)
        except OSError as exc:
            self._discard()
            raise write_error(self.target, exc) from None

    def close(self) -> None:
        """The last row group and the footer, then the file under its name."""
        if self.file is None:
            return
        try:
            if self.pending:
                self._write()
            self.file.close()
            self.file = None
            os.replace(self.partial, self.target)
        except OSError as exc:
            self._discard()
            raise write_error(self.target, exc) from None

    def _discard(self) -> None:
        """After a failed write: no half file left behind, and nothing more to write."""
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        self.partial.unlink(missing_ok=True)
