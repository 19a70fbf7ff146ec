"""Where the scorer writes CSV: a header line, then one line per image (the probabilities as one
column per class)."""
from __future__ import annotations

import csv
import io

from scorer.row_writer import RowWriter


class CsvWriter(RowWriter):
    """Columns: source, index, true_label, label, class_index, confidence, p_<class> x10, error,
    model_version. An empty cell is a value the row does not have (an image file has no index, an
    error row no prediction)."""

    def header(self) -> str:
        return self._lines([self.columns()])

    def format(self, rows: list[dict]) -> str:
        return self._lines(self.cells(row) for row in rows)

    @staticmethod
    def _lines(rows) -> str:
        """CSV text of the rows; lines end in \n, as the rest of the scorer's text does."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()
