"""The out-of-distribution detector: fitted on the training images, standardised and thresholded on
the validation images, measured against non-clothing images that need no download.

The score (inference/nets.py computes it in the served graph; `score` here is the same formula in
numpy, the reference the export is checked against):

    ood_score(x) = (R(x) - mR)/sR + (M(x) - mM)/sM

R(x) is the class-conditional PCA residual: the smallest over classes c of ||x - mu_c||^2 minus
its part in the span of the top K principal directions of class c's training images. It catches
inputs unlike any garment's shape. M(x) is the Mahalanobis distance of five image statistics
(border ring mean, mean intensity, fraction of lit pixels, total variation, Laplacian energy; the
differences zero-padded at the image's edge) from
their training distribution, with a pseudo-inverse covariance: it catches photos, textures and
noise, whose statistics no Fashion-MNIST image has. mR, sR, mM, sM are the mean and SD on the
validation images, so neither term dominates; the threshold is the validation images' 95th
percentile, so 95% of held-out clothing passes.

benchmarks/ood_eval.py compares this with max softmax, energy, Mahalanobis and the two terms alone.
"""
from __future__ import annotations

import numpy as np

from inference.nets import BORDER, LIT, STAT_NAMES

K = 5  # principal directions per class
ACCEPT = 0.95  # share of held-out in-distribution images below the threshold
METHOD = "class-pca-residual+image-stats-mahalanobis"


def flat(images: np.ndarray) -> np.ndarray:
    """uint8 [N,28,28] (0..255) or float [N,1,28,28]/[N,28,28]/[N,784] in [0,1] -> float64 [N,784]."""
    images = np.asarray(images)
    scale = 1 / 255 if images.dtype == np.uint8 else 1.0
    return images.reshape(len(images), 784).astype(np.float64) * scale


def image_stats(x: np.ndarray) -> np.ndarray:
    """The five statistics (STAT_NAMES) of float images [N,784]: [N,5]."""
    img = x.reshape(-1, 28, 28)
    ring = np.zeros((28, 28), bool)
    ring[:BORDER, :] = ring[-BORDER:, :] = ring[:, :BORDER] = ring[:, -BORDER:] = True
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)))  # zero outside the image
    dy, dx = padded[:, 2:, 1:-1] - img, padded[:, 1:-1, 2:] - img
    tv = np.abs(dy).mean((1, 2)) + np.abs(dx).mean((1, 2))
    lap = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
           - 4 * img)
    return np.stack([img[:, ring].mean(1), x.mean(1), (x > LIT).mean(1), tv, (lap ** 2).mean((1, 2))], 1)


def residual(x: np.ndarray, tensors: dict) -> np.ndarray:
    best = np.full(len(x), np.inf)
    for mu, basis in zip(tensors["class_means"], tensors["class_bases"]):
        d = x - mu
        best = np.minimum(best, (d ** 2).sum(1) - ((d @ basis.T) ** 2).sum(1))
    return best


def mahalanobis(x: np.ndarray, tensors: dict) -> np.ndarray:
    d = image_stats(x) - tensors["stat_mean"]
    return ((d @ tensors["stat_precision"]) * d).sum(1)


def score(images: np.ndarray, tensors: dict) -> np.ndarray:
    """The reference ood_score of images (any form `flat` takes): float64 [N]."""
    x = flat(images)
    (mr, sr), (mm, sm) = tensors["residual_ref"], tensors["stats_ref"]
    return (residual(x, tensors) - mr) / sr + (mahalanobis(x, tensors) - mm) / sm


def fit(train_images: np.ndarray, train_labels: np.ndarray, val_images: np.ndarray,
        classes: int = 10, k: int = K) -> tuple[dict, float]:
    """The detector's tensors (float32 arrays, inference.nets.OOD_TENSORS) and its threshold."""
    x, labels = flat(train_images), np.asarray(train_labels)
    means, bases = np.zeros((classes, 784)), np.zeros((classes, k, 784))
    for c in range(classes):
        members = x[labels == c]
        if len(members) == 0:
            continue  # a class absent from the training part: its mean 0, no directions
        means[c] = members.mean(0)
        _, _, vt = np.linalg.svd(members - means[c], full_matrices=False)
        bases[c, :min(k, len(vt))] = vt[:k]
    stats = image_stats(x)
    tensors = {"class_means": means, "class_bases": bases, "stat_mean": stats.mean(0),
               "stat_precision": np.linalg.pinv(np.cov(stats, rowvar=False))}
    val = flat(val_images)
    r, m = residual(val, tensors), mahalanobis(val, tensors)
    tensors["residual_ref"] = np.array([r.mean(), max(r.std(), 1e-12)])
    tensors["stats_ref"] = np.array([m.mean(), max(m.std(), 1e-12)])
    tensors = {name: value.astype(np.float32) for name, value in tensors.items()}
    threshold = float(np.quantile(score(val, tensors), ACCEPT))
    return tensors, threshold


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(score of an outside image > score of an inside one), ties counted half (Mann-Whitney U)."""
    inside, outside = np.asarray(inside, float), np.asarray(outside, float)
    values = np.concatenate([inside, outside])
    order = values.argsort(kind="mergesort")
    ordered = values[order]
    ranks = np.empty(len(values))
    start = 0
    for end in range(1, len(values) + 1):  # tied values share their average rank
        if end == len(values) or ordered[end] != ordered[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2
            start = end
    n_in, n_out = len(inside), len(outside)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))
