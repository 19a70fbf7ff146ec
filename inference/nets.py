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
        """ood_score(x) = (R(x) - mR)/sR + (M(x) - mM)/sM, higher meaning less like the training images
        (training/ood.py has the formula in plain numpy, the reference this is tested against).

        R: the smallest over classes c of the squared distance from x to the class mean mu_c that
        the class's top principal directions V_c leave unexplained. M: the Mahalanobis distance of
        five image statistics from their training mean. (mR, sR), (mM, sM): their mean and SD on the
        validation images.

        Written for few graph nodes, since each costs a served request about a microsecond. With
        x and the class means centred on the training images' mean pixel m (so that float32 keeps
        the digits that the expansion cancels): R = ||x-m||^2 + min_c(||mu_c-m||^2 - 2 (x-m).(mu_c-m)
        - ||V_c (x-m) - V_c (mu_c-m)||^2), as three Gemms. The statistics come from one Gemm (ring
        and overall mean), one Conv (Laplacian and the two differences, zero-padded) and one
        comparison; M, with the scales folded in, is a MatMul, a Mul and a sum over nine raw
        statistics that the five are linear in, centred on their training mean.
        """

        def __init__(self, tensors: dict):
            super().__init__()
            f64 = {name: torch.as_tensor(tensors[name]).double() for name in OOD_TENSORS}
            means, bases = f64["class_means"], f64["class_bases"]  # [C, 784], [C, k, 784]
            classes, k, pixels = bases.shape
            (mr, sr), (mm, sm) = f64["residual_ref"].tolist(), f64["stats_ref"].tolist()
            pixel_mean = means.mean(0)
            centred = means - pixel_mean
            self.register_buffer("pixel_mean", pixel_mean.float())
            self.register_buffer("near_w", (-2 * centred).T.float().contiguous())
            self.register_buffer("near_c", (centred ** 2).sum(1).float())
            self.register_buffer("proj_w", bases.reshape(classes * k, pixels).T.float().contiguous())
            self.register_buffer("proj_c", -torch.einsum("ckp,cp->ck", bases, centred).reshape(-1).float())
            self.register_buffer("group", -torch.eye(classes, dtype=torch.float64)
                                 .repeat_interleave(k, 0).float())  # [C*k, C]: minus the sum over k
            ring = torch.zeros(28, 28, dtype=torch.float64)
            ring[:BORDER, :] = ring[-BORDER:, :] = ring[:, :BORDER] = ring[:, -BORDER:] = 1
            linear = torch.stack([(ring / ring.sum()).reshape(-1), torch.full((pixels,), 1 / pixels,
                                                                           dtype=torch.float64)], 1)
            self.register_buffer("stats_w", linear.float())
            self.register_buffer("stats_c", (pixel_mean @ linear).float())
            kernels = torch.zeros(3, 1, 3, 3)
            kernels[0, 0] = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
            kernels[1, 0, 1, 1], kernels[1, 0, 2, 1] = -1.0, 1.0  # x[i+1, j] - x[i, j]
            kernels[2, 0, 1, 1], kernels[2, 0, 1, 2] = -1.0, 1.0  # x[i, j+1] - x[i, j]
            self.register_buffer("kernels", kernels)
            # raw = [ring, mean, lit, |lap|, |dy|, |dx|, lap^2, dy^2, dx^2] -> the five statistics
            select = torch.zeros(9, 5, dtype=torch.float64)
            select[0, 0] = select[1, 1] = select[2, 2] = select[4, 3] = select[5, 3] = select[6, 4] = 1
            precision, centre = f64["stat_precision"], f64["stat_mean"]
            # raw - raw_centre maps to (statistics - their mean) through `select`
            raw_centre = torch.zeros(9, dtype=torch.float64)
            raw_centre[[0, 1, 2, 6]] = centre[[0, 1, 2, 4]]
            raw_centre[4] = raw_centre[5] = centre[3] / 2
            self.register_buffer("raw_centre", raw_centre.float())
            self.register_buffer("maha_w", (select @ precision @ select.T / sm).float())
            self.r_scale = 1 / sr
            self.offset = float(-mm / sm - mr / sr)

        def forward(self, image):
            x = image.flatten(1)
            xc = x - self.pixel_mean
            near = torch.addmm(self.near_c, xc, self.near_w)  # [N, C]
            z = torch.addmm(self.proj_c, xc, self.proj_w)  # [N, C*k]
            residual = torch.addmm(near, z * z, self.group).amin(1) + (xc * xc).sum(1)
            g = torch.nn.functional.conv2d(image, self.kernels, padding=1)  # [N, 3, 28, 28]
            raw = torch.cat([torch.addmm(self.stats_c, xc, self.stats_w),
                             (x > LIT).float().mean(1, keepdim=True),
                             g.abs().mean((2, 3)), (g * g).mean((2, 3))], 1)
            d = raw - self.raw_centre
            mahalanobis = ((d @ self.maha_w) * d).sum(1)
            return residual * self.r_scale + mahalanobis + self.offset

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
