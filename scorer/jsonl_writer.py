"""JSON Lines (also what `--out -` prints): one prediction or error object per line."""
from __future__ import annotations

import json

from scorer.row_writer import RowWriter


class JsonlWriter(RowWriter):
    """One prediction (or error) object per line, keys with a None value left out."""

    def format(self, rows: list[dict]) -> str:
        return "".join(json.dumps({key: value for key, value in row.items() if value is not None}) + "\n"
                       for row in rows)
