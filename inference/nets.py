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
OOD_TENSORS = ("class_means", "class_bases", "stat_mean", "stat_precision", "residual_ref", "stats_ref")
STAT_NAMES = ("border_mean", "mean", "fraction_lit", "total_variation", "laplacian_energy")
LIT = 0.02  # a pixel above this counts as lit (the fraction_lit statistic)
BORDER = 2  # the outer ring the border statistic averages, in pixels


def serving_net(net, temperature: float = 1.0, ood: dict | None = None):
    """`net` (logits out) as served: `image` [N,1,28,28] -> softmax(logits / temperature) [N,10],
    and with `ood` (the detector's tensors) also `ood_score` [N]."""
    head = _serving_classes()
    return head[1](net, temperature, None if ood is None else head[0](ood))


_CLASSES: tuple = ()


def _serving_classes():
    """The two module classes, defined at first use: torch is imported only when a net is built."""
    global _CLASSES
    if _CLASSES:
        return _CLASSES
    import torch
    from torch import nn

    class OodScore(nn.Module):
        """ood_score(x) = (R(x) - mR)/sR + (M(x) - mM)/sM, higher meaning less like the training images.

        R: the smallest over classes c of the squared distance from x to the class mean mu_c that
        the class's top principal directions V_c leave unexplained, written as matrix products
        (||x||^2 - 2 x.mu_c + ||mu_c||^2 - ||V_c x - V_c mu_c||^2) so a batch costs two MatMuls.
        M: the Mahalanobis distance of five image statistics from their training mean.
        (mR, sR), (mM, sM): the mean and SD of R and M on the validation images.
        """

        def __init__(self, tensors: dict):
            super().__init__()
            means = torch.as_tensor(tensors["class_means"], dtype=torch.float32)  # [C, 784]
            bases = torch.as_tensor(tensors["class_bases"], dtype=torch.float32)  # [C, k, 784]
            classes, k, _ = bases.shape
            self.classes, self.k = classes, k
            self.register_buffer("means_t2", (2 * means).T.contiguous())
            self.register_buffer("means_sq", (means ** 2).sum(1))
            self.register_buffer("bases_t", bases.reshape(classes * k, -1).T.contiguous())
            self.register_buffer("bases_mu", torch.einsum("ckp,cp->ck", bases, means).reshape(-1))
            ring = torch.zeros(28, 28)
            ring[:BORDER, :] = ring[-BORDER:, :] = ring[:, :BORDER] = ring[:, -BORDER:] = 1
            self.register_buffer("ring", (ring / ring.sum()).reshape(784, 1))
            laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
            self.register_buffer("laplacian", laplacian.reshape(1, 1, 3, 3))
            for name in ("stat_mean", "stat_precision", "residual_ref", "stats_ref"):
                self.register_buffer(name, torch.as_tensor(tensors[name], dtype=torch.float32))

        def forward(self, image):
            x = image.flatten(1)
            squared = (x * x).sum(1, keepdim=True)
            distance = squared - x @ self.means_t2 + self.means_sq  # [N, C]
            projected = x @ self.bases_t - self.bases_mu  # [N, C*k]
            explained = (projected * projected).reshape(-1, self.classes, self.k).sum(2)
            residual = (distance - explained).amin(1)
            dy = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean((1, 2, 3))
            dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean((1, 2, 3))
            lap = torch.nn.functional.conv2d(image, self.laplacian, padding=1)
            stats = torch.stack([(x @ self.ring)[:, 0], x.mean(1), (x > LIT).float().mean(1),
                                 dy + dx, (lap * lap).mean((1, 2, 3))], 1)
            d = stats - self.stat_mean
            mahalanobis = ((d @ self.stat_precision) * d).sum(1)
            return ((residual - self.residual_ref[0]) / self.residual_ref[1]
                    + (mahalanobis - self.stats_ref[0]) / self.stats_ref[1])

    class Serving(nn.Module):
        def __init__(self, net, temperature: float, ood):
            super().__init__()
            self.net, self.ood = net, ood
            self.register_buffer("inverse_temperature", torch.tensor(1.0 / float(temperature)))

        def forward(self, image):
            probabilities = torch.softmax(self.net(image) * self.inverse_temperature, dim=1)
            if self.ood is None:
                return probabilities
            return probabilities, self.ood(image)

    _CLASSES = (OodScore, Serving)
    return _CLASSES
