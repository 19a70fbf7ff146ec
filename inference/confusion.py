"""The confusion matrix and its picture, for training's test report and the batch scorer's
--report alike. matplotlib is imported only to draw (it is not in the slim serving image)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion_matrix(labels, predicted, n: int) -> np.ndarray:
    """counts[true, predicted] over `n` classes."""
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return counts


def plot_confusion(path: str | Path, counts: np.ndarray, classes: list[str], title: str) -> Path:
    """The matrix as a PNG at `path` (any name: the format is not taken from it), each cell
    labelled with its count. ImportError when matplotlib is missing."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers or in containers
    import matplotlib.pyplot as plt

    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(8, 7))
    try:
        image = ax.imshow(counts, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046)
        ticks = range(len(classes))
        ax.set_xticks(ticks, classes, rotation=45, ha="right")
        ax.set_yticks(ticks, classes)
        ax.set(xlabel="predicted", ylabel="true", title=title)
        threshold = counts.max() / 2 if counts.size else 0
        for (row, col), value in np.ndenumerate(counts):
            ax.text(col, row, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > threshold else "black")
        fig.tight_layout()
        fig.savefig(path, dpi=100, format="png")
    finally:
        plt.close(fig)
    return Path(path)
