"""How two runs of one model on different devices must agree, and the figures each check measured.

Why these tolerances: a GPU sums in another order than a CPU, and by default it rounds matrix and
convolution inputs to TF32 (10 mantissa bits, a relative error of about 5e-4): cuDNN convolutions
in torch, and matrix products and convolutions in onnxruntime's CUDA provider, on the Ampere and
later GPUs that have TF32. On logits of size 5-10 that is an error up to about 1e-2, and a
probability moves by at most half the logits' error (softmax's Jacobian), so about 5e-3.
PROB_ATOL = 1e-2 keeps 2x of headroom for inference. Training repeats that error in 20 SGD steps
(tests/gpu/conftest.py TRAIN_ARGS), so models trained on each device get twice that. A real bug (a
layer left on the other device, weights not copied back, another preprocessing) moves
probabilities by 0.1 or more, far outside either tolerance.

The argmax must be equal on every image whose CPU probabilities put the top two classes more than
2 x atol apart: within that margin the tolerance itself allows a flip. Such near-ties may be at
most MAX_NEAR_TIES of the images, so the check cannot pass by excluding them all.
"""
from __future__ import annotations

import numpy as np

PROB_ATOL = 1e-2
TRAIN_PROB_ATOL = 2e-2
MAX_NEAR_TIES = 0.1

FIGURES: list[dict] = []  # printed at the end of the session (conftest.py)


def assert_agree(cpu: np.ndarray, gpu: np.ndarray, atol: float, what: str) -> dict:
    """Check GPU probabilities [N, classes] against the CPU's; returns and records the figures."""
    cpu, gpu = np.asarray(cpu, dtype=np.float64), np.asarray(gpu, dtype=np.float64)
    assert cpu.shape == gpu.shape, f"{what}: shapes {cpu.shape} (cpu) and {gpu.shape} (gpu) differ"
    top2 = np.sort(cpu, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 2 * atol
    differ = cpu.argmax(axis=1) != gpu.argmax(axis=1)
    figures = {"check": what, "images": len(cpu), "max_abs_diff": float(np.abs(cpu - gpu).max()),
               "argmax_differs": int(differ.sum()), "near_ties": int((~decided).sum()),
               "atol": atol}
    FIGURES.append(figures)
    assert figures["max_abs_diff"] <= atol, f"{what}: probabilities differ by more than {atol}: {figures}"
    assert not (differ & decided).any(), (
        f"{what}: argmax differs on images {np.flatnonzero(differ & decided).tolist()}: {figures}")
    assert figures["near_ties"] <= MAX_NEAR_TIES * len(cpu), f"{what}: too many near-ties: {figures}"
    return figures
