"""The three figures: learning curves, test confusion matrix, a grid of labelled test images."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in containers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from inference import confusion  # noqa: E402
from inference.confusion import confusion_matrix  # noqa: E402


def plot_curves(path: Path, epochs: list[dict]) -> Path:
    """Train loss on the left; train and test accuracy on the right, per epoch."""
    x = [e["epoch"] for e in epochs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, [e["train_loss"] for e in epochs], "o-", label="train loss")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="Training loss")
    right.plot(x, [e["train_acc"] for e in epochs], "o-", label="train accuracy")
    right.plot(x, [e["test_acc"] for e in epochs], "s--", label="test accuracy")
    right.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(x if len(x) <= 20 else x[:: max(1, len(x) // 10)])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(path: Path, labels: np.ndarray, predicted: np.ndarray,
                   classes: list[str]) -> Path:
    counts = confusion_matrix(labels, predicted, len(classes))
    accuracy = np.trace(counts) / max(1, counts.sum())
    return confusion.plot_confusion(path, counts, classes, f"Test confusion matrix (accuracy {accuracy:.3f})")


def plot_samples(path: Path, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                 classes: list[str], count: int = 18, columns: int = 6) -> Path:
    """d2l.ai's predict_ch3: test images titled true / predicted (wrong ones in red)."""
    count = min(count, len(images))
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.8, rows * 2.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        right = labels[i] == predicted[i]
        ax.set_title(f"{classes[labels[i]]}\n{classes[predicted[i]]}", fontsize=8,
                     color="black" if right else "red")
    fig.suptitle("test images: true (top) / predicted (bottom), wrong in red", fontsize=9)
    fig.tight_layout(h_pad=1.5)  # room for the two-line titles under the row above
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def spread_sample(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` test images cycling through the classes, so every class shows."""
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    picked: list[int] = []
    for rank in range(len(labels)):
        for members in by_class:
            if rank < len(members) and len(picked) < count:
                picked.append(int(members[rank]))
        if len(picked) >= count:
            break
    return np.array(picked, dtype=np.int64)
