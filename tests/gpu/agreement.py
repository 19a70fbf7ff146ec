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

The argmax must be equal on every image whose CPU top-two probabilities are more than NEAR_TIE
apart. NEAR_TIE is far below the tolerances on purpose: the probability bound alone would let an
image with a margin up to 2 x atol change its answer, and the argmax check forbids that. Below
NEAR_TIE both answers are right (the model cannot tell the two classes apart); such images are
counted in the figures. Expect differences of 1e-5 to 1e-3 on a GPU, so a flip above NEAR_TIE means
something differs, not rounding.
"""
from __future__ import annotations

import numpy as np

PROB_ATOL = 1e-2
TRAIN_PROB_ATOL = 2e-2
NEAR_TIE = 1e-3

FIGURES: list[dict] = []  # printed at the end of the session (conftest.py)


def assert_agree(cpu: np.ndarray, gpu: np.ndarray, atol: float, what: str) -> dict:
    """Check GPU probabilities [N, classes] against the CPU's; returns and records the figures."""
    cpu, gpu = np.asarray(cpu, dtype=np.float64), np.asarray(gpu, dtype=np.float64)
    assert cpu.shape == gpu.shape, f"{what}: shapes {cpu.shape} (cpu) and {gpu.shape} (gpu) differ"
    max_diff = float(np.abs(cpu - gpu).max())
    top2 = np.sort(cpu, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > NEAR_TIE
    differ = cpu.argmax(axis=1) != gpu.argmax(axis=1)
    figures = {"check": what, "images": len(cpu), "max_abs_diff": max_diff,
               "argmax_differs": int(differ.sum()), "near_ties": int((~decided).sum()), "atol": atol}
    FIGURES.append(figures)
    assert figures["max_abs_diff"] <= atol, f"{what}: probabilities differ by more than {atol}: {figures}"
    assert not (differ & decided).any(), (
        f"{what}: argmax differs on images {np.flatnonzero(differ & decided).tolist()}: {figures}")
    return figures
