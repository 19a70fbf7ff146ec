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


# --- the serving head: what model.onnx computes and the torch backend rebuilds from model.pt
# The detector's tensors, by the names model.pt's "ood" entry stores them under (training/ood.py
# fits them; docs/architecture.md describes the formula).
OOD_TENSORS = ("stat_mean", "whiten", "score_ref")
LIT = 0.1  # the `above_lit` channel is the image minus this level (robust to a little sensor noise)
# The five maps the detector measures, each the image through one 3x3 kernel (zero-padded): the
# image, the image minus LIT, the Laplacian, and the differences to the pixel below and to the right.
CHANNELS = ("image", "above_lit", "laplacian", "d_down", "d_right")
SQUARED = (0, 2, 3, 4)  # the channels whose sum of squares is a statistic (above_lit's adds nothing new)
STAT_NAMES = tuple(f"sum_abs_{c}" for c in CHANNELS) + tuple(f"sum_sq_{CHANNELS[i]}" for i in SQUARED)


def stat_kernels():
    """numpy float64 ([5,1,3,3] kernels, [5] biases) of the five CHANNELS."""
    import numpy as np

    kernels = np.zeros((len(CHANNELS), 1, 3, 3))
    kernels[0, 0, 1, 1] = kernels[1, 0, 1, 1] = 1.0
    kernels[2, 0] = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
    kernels[3, 0, 1, 1], kernels[3, 0, 2, 1] = -1.0, 1.0  # x[i+1, j] - x[i, j]
    kernels[4, 0, 1, 1], kernels[4, 0, 1, 2] = -1.0, 1.0  # x[i, j+1] - x[i, j]
    biases = np.array([0.0, -LIT, 0.0, 0.0, 0.0])
    return kernels, biases


def serving_net(net, temperature: float = 1.0, ood: dict | None = None):
    """`net` (logits out) as served: `image` [N,1,28,28] -> softmax(logits / temperature) [N,10],
    and with `ood` (the detector's tensors) also `ood_score` [N]. A net ending in a Linear layer
    gets 1/temperature folded into a copy of that layer (one graph node fewer per request)."""
    head = _serving_classes()
    return head[1](net, temperature, None if ood is None else head[0](ood))


_CLASSES: tuple = ()


def _serving_classes():
    """The two module classes, defined at first use: torch is imported only when a net is built."""
    global _CLASSES
    if _CLASSES:
        return _CLASSES
    import copy

    import torch
    from torch import nn

    class OodScore(nn.Module):
        """ood_score(x) = (||(s(x) - mu) W||^2 - m) / sd, higher meaning less like the training
        images (training/ood.py has the formula in plain numpy, the reference this is tested
        against). s(x) are the nine STAT_NAMES: the sums of |.| of the five CHANNELS and of the
        squares of four; mu their training mean, W a whitening of their training covariance (its
        pseudo-inverse is W W^T), (m, sd) the squared distance's mean and SD on the validation images.

        Written for few graph nodes of few kinds, since a served request pays each in cold caches:
        one Conv, ReduceL1 and ReduceSumSquare over its maps, two Gemms (the centring and 1/sd
        folded in), a ReduceSumSquare and an Add (training/export.py turns torch's Mul-then-sum
        into ReduceSumSquare).
        """

        def __init__(self, tensors: dict):
            super().__init__()
            f64 = {name: torch.as_tensor(tensors[name]).double() for name in OOD_TENSORS}
            (m, sd) = f64["score_ref"].tolist()
            whiten = f64["whiten"] / sd ** 0.5  # [9, r]
            kernels, biases = stat_kernels()
            self.register_buffer("kernels", torch.from_numpy(kernels).float())
            self.register_buffer("biases", torch.from_numpy(biases).float())
            count = len(CHANNELS)
            squared = torch.zeros(count, whiten.shape[1], dtype=torch.float64)
            squared[list(SQUARED)] = whiten[count:]
            self.register_buffer("abs_w", whiten[:count].float().contiguous())
            self.register_buffer("sq_w", squared.float())
            self.register_buffer("centre", (-f64["stat_mean"] @ whiten).float())
            self.offset = float(-m / sd)

        def forward(self, image):
            maps = torch.nn.functional.conv2d(image, self.kernels, self.biases, padding=1)  # [N, 5, 28, 28]
            absolute = torch.linalg.vector_norm(maps, 1, dim=(2, 3))
            squares = (maps * maps).sum((2, 3))
            w = torch.addmm(torch.addmm(self.centre, absolute, self.abs_w), squares, self.sq_w)
            return (w * w).sum(1) + self.offset

    class Serving(nn.Module):
        def __init__(self, net, temperature: float, ood):
            super().__init__()
            inverse = 1.0 / float(temperature)
            last = net[-1] if isinstance(net, nn.Sequential) and len(net) else None
            fold = inverse != 1.0 and isinstance(last, nn.Linear)
            if fold:
                net = copy.deepcopy(net)
                with torch.no_grad():
                    net[-1].weight.mul_(inverse)
                    if net[-1].bias is not None:
                        net[-1].bias.mul_(inverse)
            # 1/T on the logits only where it could not be folded (None: nothing to multiply)
            self.register_buffer("scale", None if fold or inverse == 1.0 else torch.tensor(inverse))
            self.net, self.ood = net, ood

        def forward(self, image):
            logits = self.net(image)
            probabilities = torch.softmax(logits if self.scale is None else logits * self.scale, dim=1)
            if self.ood is None:
                return probabilities
            return probabilities, self.ood(image)

    _CLASSES = (OodScore, Serving)
    return _CLASSES
