"""The declarative layer lists of model.pt (`arch.layers`, `[[kind, *args], ...]`) built into
`nn.Sequential` nets: the one builder for training (training/models.py) and the torch backend, so
the backend rebuilds exactly the net training saved. torch is imported only when a net is built
(the slim serving image has none)."""
from __future__ import annotations

# kind -> the number of arguments its entry carries, all required: a list either names every
# option or is refused.
ARITY = {"flatten": 0, "linear": 2, "relu": 0, "conv2d": 4, "maxpool2d": 1, "dropout": 1}


def build_layer(kind: str, *args):
    """One `nn.Module` from one `[kind, *args]` entry; ValueError for an unknown kind or a wrong
    number of arguments."""
    from torch import nn

    if kind not in ARITY:
        raise ValueError(f"unknown layer kind {kind!r} in arch.layers")
    if len(args) != ARITY[kind]:
        raise ValueError(f"layer {kind!r} takes {ARITY[kind]} argument(s), got {len(args)}: {list(args)}")
    if kind == "flatten":
        return nn.Flatten()
    if kind == "linear":
        return nn.Linear(int(args[0]), int(args[1]))
    if kind == "relu":
        return nn.ReLU()
    if kind == "conv2d":  # in channels, out channels, kernel size, padding
        return nn.Conv2d(int(args[0]), int(args[1]), kernel_size=int(args[2]), padding=int(args[3]))
    if kind == "maxpool2d":
        return nn.MaxPool2d(int(args[0]))
    return nn.Dropout(float(args[0]))


def build_sequential(layers: list):
    """The `nn.Sequential` (logits out) described by `layers`."""
    from torch import nn

    return nn.Sequential(*(build_layer(*entry) for entry in layers))
