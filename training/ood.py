"""The out-of-distribution detector: fitted on the training images, standardised and thresholded on
the validation images, measured against non-clothing images that need no download.

The score (inference/nets.py computes it in the served graph; `score` here is the same formula in
numpy, the reference the export is checked against):

    ood_score(x) = (D(x) - m) / sd,    D(x) = (s(x) - mu)^T P (s(x) - mu)

s(x) are nine statistics of the 28x28 image the model sees (inference.nets.STAT_NAMES): the five
maps CHANNELS (the image, the image minus LIT, the Laplacian and the two neighbour differences,
zero-padded at the edge) summed in absolute value, and four of them summed squared. Together they
tell how bright, how large, how sharp-edged and how textured an image is, which no photo, noise,
digit or drawing matches as a garment does. D is their squared Mahalanobis distance from the
training images (mu the mean, P the pseudo-inverse of the covariance, stored as a whitening W with
P = W W^T); (m, sd) are D's mean and SD on the validation images, so held-out clothing scores about
0, and the threshold is the validation images' 95th percentile, so 95% of held-out clothing passes.

Chosen over the class-conditional PCA residual of the first version (and its sum with the earlier
five statistics) because it is as good or better on every family and costs a served request a
third of the graph: benchmarks/ood_eval.py measures both side by side, and max softmax, energy,
pixel Mahalanobis and nearest neighbours beside them.
"""
from __future__ import annotations

import numpy as np

from inference.nets import CHANNELS, SQUARED, STAT_NAMES, stat_kernels

ACCEPT = 0.95  # share of held-out in-distribution images below the threshold
METHOD = "image-stats-mahalanobis"
RCOND = 1e-4  # whitening drops the correlation matrix's directions below this share of its largest


def flat(images: np.ndarray) -> np.ndarray:
    """uint8 [N,28,28] (0..255) or float [N,1,28,28]/[N,28,28]/[N,784] in [0,1] -> float64 [N,784]."""
    images = np.asarray(images)
    scale = 1 / 255 if images.dtype == np.uint8 else 1.0
    return images.reshape(len(images), 784).astype(np.float64) * scale


def maps(x: np.ndarray) -> np.ndarray:
    """The five CHANNELS of float images [N,784]: [N,5,784] (a 3x3 correlation, zero-padded)."""
    kernels, biases = stat_kernels()
    padded = np.pad(x.reshape(-1, 28, 28), ((0, 0), (1, 1), (1, 1)))
    out = np.empty((len(x), len(CHANNELS), 28, 28))
    for c in range(len(CHANNELS)):
        out[:, c] = biases[c] + sum(kernels[c, 0, i, j] * padded[:, i:i + 28, j:j + 28]
                                    for i in range(3) for j in range(3) if kernels[c, 0, i, j])
    return out.reshape(len(x), len(CHANNELS), 784)


def image_stats(x: np.ndarray) -> np.ndarray:
    """The nine statistics (STAT_NAMES) of float images [N,784]: [N,9]."""
    m = maps(x)
    return np.concatenate([np.abs(m).sum(2), (m[:, list(SQUARED)] ** 2).sum(2)], 1)


def distance(x: np.ndarray, tensors: dict) -> np.ndarray:
    """D(x), the squared Mahalanobis distance of the statistics: [N]."""
    w = (image_stats(x) - tensors["stat_mean"]) @ tensors["whiten"]
    return (w ** 2).sum(1)


def score(images: np.ndarray, tensors: dict) -> np.ndarray:
    """The reference ood_score of images (any form `flat` takes): float64 [N]."""
    tensors = {name: np.asarray(value, np.float64) for name, value in tensors.items()}
    m, sd = tensors["score_ref"]
    return (distance(flat(images), tensors) - m) / sd


def fit(train_images: np.ndarray, val_images: np.ndarray) -> tuple[dict, float]:
    """The detector's tensors (float32 arrays, inference.nets.OOD_TENSORS) and its threshold."""
    stats = image_stats(flat(train_images))
    # the correlation matrix's eigenvectors, scaled back: W = diag(1/sd) V diag(1/sqrt(lambda)).
    # Directions of almost no variance (below RCOND of the largest) are dropped: their huge weights
    # would turn float32 rounding in the served graph into score noise.
    spread = np.maximum(stats.std(0), 1e-12)
    values, vectors = np.linalg.eigh(np.corrcoef(stats, rowvar=False) if len(stats) > 1 else np.eye(stats.shape[1]))
    values, vectors = np.nan_to_num(values), np.nan_to_num(vectors)
    keep = values > RCOND * max(values.max(), 1e-12)
    whiten = vectors[:, keep] / np.sqrt(values[keep]) / spread[:, None]
    tensors = {"stat_mean": stats.mean(0), "whiten": whiten}
    d = distance(flat(val_images), tensors)
    tensors["score_ref"] = np.array([d.mean(), max(d.std(), 1e-12)])
    tensors = {name: value.astype(np.float32) for name, value in tensors.items()}
    threshold = float(np.quantile(score(val_images, tensors), ACCEPT))
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
