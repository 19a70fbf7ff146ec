"""The three architectures as declarative layer lists `[kind, *args]`: the checkpoint contract
(docs/architecture.md, model.pt). training/models.py builds them with inference/nets.py, the builder
the torch backend rebuilds them with. Nothing here imports torch: the CLI lists the choices without it.
"""
from __future__ import annotations

Layers = list[list]

ARCHS: dict[str, Layers] = {
    # d2l.ai's softmax regression: one affine map from 784 pixels to 10 logits.
    "linear": [["flatten"], ["linear", 784, 10]],
    # d2l.ai's MLP: one hidden layer of 256 ReLU units.
    "mlp": [["flatten"], ["linear", 784, 256], ["relu"], ["linear", 256, 10]],
    # A small LeNet-like net: two conv/pool stages (28 -> 14 -> 7), then a linear head.
    "cnn": [
        ["conv2d", 1, 16, 3, 1], ["relu"], ["maxpool2d", 2],
        ["conv2d", 16, 32, 3, 1], ["relu"], ["maxpool2d", 2],
        ["flatten"], ["linear", 32 * 7 * 7, 10],
    ],
}
