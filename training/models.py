"""Build the architectures of `training.config.ARCHS` as `nn.Sequential` nets (logits out).

Each layer entry is `[kind, *args]`; the app rebuilds the same `nn.Sequential` from the list alone,
so this file and `app`'s torch backend must agree on the kinds (DESIGN.md, model.pt).
"""
from __future__ import annotations

from torch import nn

from training.config import ARCHS, Layers


def build_layer(kind: str, *args) -> nn.Module:
    """One `nn.Module` from one `[kind, *args]` entry."""
    if kind == "flatten":
        return nn.Flatten()
    if kind == "linear":
        return nn.Linear(int(args[0]), int(args[1]))
    if kind == "relu":
        return nn.ReLU()
    if kind == "conv2d":
        return nn.Conv2d(int(args[0]), int(args[1]), kernel_size=int(args[2]), padding=int(args[3]))
    if kind == "maxpool2d":
        return nn.MaxPool2d(int(args[0]))
    if kind == "dropout":
        return nn.Dropout(float(args[0]))
    raise ValueError(f"unknown layer kind {kind!r}")


def build_model(layers: Layers) -> nn.Sequential:
    """The `nn.Sequential` (logits out) described by `layers`."""
    return nn.Sequential(*(build_layer(*entry) for entry in layers))


def init_weights(model: nn.Sequential, name: str) -> None:
    """The seeds' init for the linear and MLP nets: weights N(0, 0.01), zero bias.

    The CNN keeps PyTorch's default (Kaiming-uniform) init: with N(0, 0.01) its signal would
    shrink through the conv stack and SGD at lr 0.1 would start very slowly.
    """
    if name == "cnn":
        return
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.01)
            nn.init.zeros_(module.bias)


def new_model(name: str) -> nn.Sequential:
    """A freshly initialised model of architecture `name` (draws from torch's global RNG)."""
    model = build_model(ARCHS[name])
    init_weights(model, name)
    return model


def with_softmax(model: nn.Module) -> nn.Module:
    """The logits net followed by softmax: what the ONNX file computes (probabilities out)."""
    return nn.Sequential(model, nn.Softmax(dim=1))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
