"""Accuracy, per-class accuracy and confusion matrix of a scored run whose labels are known;
printed as text, and with --report written as JSON and PNG.

matplotlib is not in the slim serving image: it is imported only to draw the PNGs, and its absence
is a clear message (`pip install 'fashion-mnist-serving[report]'`), not a traceback. Each file is
written whole or not at all (a temporary file renamed into place): a full disk is a `WriteError`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from inference.confusion import confusion_matrix, plot_confusion
from scorer.row_writer import write_error


class ReportError(Exception):
    """The PNGs cannot be drawn (matplotlib missing); the JSON is written all the same."""


def evaluate(y_true: list[int], y_pred: list[int], classes: list[str]) -> dict:
    """Counts and accuracies over the images whose true label is known (rows: true, columns:
    predicted)."""
    confusion = confusion_matrix(y_true, y_pred, len(classes))
    totals, correct = confusion.sum(axis=1), np.diag(confusion)
    count = int(totals.sum())
    return {
        "classes": list(classes),
        "count": count,
        "correct": int(correct.sum()),
        "accuracy": float(correct.sum() / count) if count else None,
        "per_class": {name: {"count": int(n), "correct": int(c), "accuracy": float(c / n) if n else None}
                      for name, n, c in zip(classes, totals, correct)},
        "confusion": confusion.tolist(),
    }


def format_report(report: dict) -> str:
    """Accuracy, a per-class table and the confusion matrix as aligned text."""
    classes = report["classes"]
    lines = [f"accuracy: {report['accuracy']:.4f} ({report['correct']}/{report['count']} labelled images)",
             "", "per-class accuracy:"]
    width = max(len(name) for name in classes)
    for name, stats in report["per_class"].items():
        accuracy = "   n/a" if stats["accuracy"] is None else f"{stats['accuracy']:.4f}"
        lines.append(f"  {name:<{width}}  {accuracy}  ({stats['correct']}/{stats['count']})")
    cell = max(4, len(str(max(max(row) for row in report["confusion"]))) + 1)
    lines += ["", "confusion matrix (rows: true, columns: predicted class index):",
              " " * (width + 5) + "".join(f"{i:>{cell}}" for i in range(len(classes)))]
    for i, (name, row) in enumerate(zip(classes, report["confusion"])):
        lines.append(f"  {i} {name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def write_report(folder: str | Path, report: dict) -> list[Path]:
    """report.json always; confusion.png and per_class.png when there are labels. Raises
    ReportError (after writing the JSON) when matplotlib is missing."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(str(folder), exc) from None
    text = json.dumps(report, indent=2) + "\n"
    written = [write_whole(folder / "report.json", lambda path: path.write_text(text, encoding="utf-8"))]
    if not report.get("evaluation"):
        return written
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only; no display on a server
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportError("matplotlib is not installed, so no PNGs were drawn (report.json was "
                          "written): pip install 'fashion-mnist-serving[report]'") from None
    evaluation = report["evaluation"]
    title = f"confusion matrix (accuracy {evaluation['accuracy']:.3f})"
    written.append(write_whole(folder / "confusion.png", lambda path: plot_confusion(
        path, np.asarray(evaluation["confusion"]), evaluation["classes"], title)))
    written.append(write_whole(folder / "per_class.png", lambda path: _plot_per_class(plt, evaluation, path)))
    return written


def write_whole(path: Path, write: Callable[[Path], object]) -> Path:
    """`write(temporary path)`, then the file renamed to `path`: a reader never sees half a file.
    An OSError (full disk) removes the temporary file and is raised as WriteError."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise write_error(str(path), exc) from None
    return path


def _plot_per_class(plt, evaluation: dict, path: Path) -> Path:
    names = list(evaluation["per_class"])
    values = [stats["accuracy"] or 0.0 for stats in evaluation["per_class"].values()]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("per-class accuracy")
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100, format="png")  # the temporary name has no .png to go by
    finally:
        plt.close(fig)
    return path
