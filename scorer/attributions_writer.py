"""`--explain FILE`: each scored image's attributions (inference/explain.py, for its predicted
class) as one .npy array float32 [rows, 28, 28], row i beside the output's row i.

The array is sized for every planned image before the run and filled as the batches are written,
so a large run never holds its attributions in memory; an error row, or a row a Ctrl-C left
unscored, stays NaN.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from scorer.row_writer import write_error


def check_explain_output(target: str, force: bool) -> None:
    """ValueError unless `target` names a .npy file that may be written."""
    if not target.lower().endswith(".npy"):
        raise ValueError(f"--explain writes a .npy array: {target!r} does not end in .npy")
    if Path(target).exists() and not force:
        raise ValueError(f"{target} exists; pass --force to overwrite it")


class AttributionsWriter:
    """Rows into a NaN-filled memory-mapped .npy of `rows` images, in order."""

    def __init__(self, target: str, rows: int) -> None:
        self.target = target
        try:
            self._array = np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=(rows, 28, 28))
        except OSError as exc:
            raise write_error(target, exc) from None
        self._array[:] = np.nan
        self.written = 0

    def __call__(self, attributions: np.ndarray) -> None:
        end = self.written + len(attributions)
        self._array[self.written:end] = attributions
        self.written = end

    def close(self) -> None:
        try:
            self._array.flush()
        except OSError as exc:
            raise write_error(self.target, exc) from None
        del self._array
