"""New models of the architectures in training/architectures.py (logits out), initialised as d2l.ai
does. inference/nets.py builds them: the torch backend rebuilds a checkpoint with the same code.
"""
from __future__ import annotations

from torch import nn

from inference.nets import build_sequential
from training.architectures import ARCHS, Layers


def init_weights(model: nn.Sequential, name: str) -> None:
    """d2l.ai's init for the linear and MLP nets: weights N(0, 0.01), zero bias.

    The CNN keeps PyTorch's default (Kaiming-uniform) init: with N(0, 0.01) its signal would
    shrink through the conv stack and SGD at lr 0.1 would start very slowly.
    """
    if name == "cnn":
        return
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.01)
            nn.init.zeros_(module.bias)


def build_model(layers: Layers) -> nn.Sequential:
    """The `nn.Sequential` (logits out) described by `layers`."""
    return build_sequential(layers)


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
