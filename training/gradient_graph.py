"""explain.onnx: the model's logits and its input gradient as one ONNX graph, for the explainer of
the service (inference/explain.py), which has onnxruntime but no torch.

torch.onnx.export cannot export autograd (`torch.autograd.grad` or `torch.func.vjp` inside
`forward`), and its ONNX translator has no `convolution_backward`. So the backward pass of each
layer kind of inference/nets.py is written here as forward operations: a vector-Jacobian product
`gradient = d(sum_k cotangent_k * logit_k) / d image`; with a one-hot cotangent for class c it is
the gradient of logit c. tests/inference/test_explain.py checks it against torch's autograd and
Captum.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INPUTS = ("image", "cotangent")
OUTPUTS = ("logits", "gradient")
_SUPPORTED = (nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Conv2d, nn.MaxPool2d)


class GradientGraph(nn.Module):
    """`(image [N,1,28,28], cotangent [N,C]) -> (logits [N,C], gradient [N,1,28,28])` for an
    `nn.Sequential` of the layer kinds in inference/nets.py, in eval mode (Dropout is the identity)."""

    def __init__(self, net: nn.Sequential) -> None:
        super().__init__()
        for layer in net:
            if not isinstance(layer, _SUPPORTED):
                raise TypeError(f"no gradient rule for layer {layer}")
            if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.dilation != (1, 1)):
                raise TypeError(f"no gradient rule for a grouped or dilated convolution: {layer}")
        self.net = net
        # A wrapper left in training mode would export Dropout as a random mask.
        self.eval()

    def forward(self, image: torch.Tensor, cotangent: torch.Tensor):
        tape = []  # (layer, its input, max-pool indices) for the backward pass
        h = image
        for layer in self.net:
            if isinstance(layer, nn.Dropout):
                continue
            if isinstance(layer, nn.MaxPool2d):
                out, indices = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding,
                                            layer.dilation, ceil_mode=layer.ceil_mode, return_indices=True)
                tape.append((layer, h, indices))
                h = out
            else:
                tape.append((layer, h, None))
                h = layer(h)
        logits = h
        g = cotangent
        for layer, inp, indices in reversed(tape):
            g = _backward(layer, inp, indices, g)
        return logits, g


def _backward(layer: nn.Module, inp: torch.Tensor, indices, g: torch.Tensor) -> torch.Tensor:
    """The gradient at the layer's input, from the gradient at its output."""
    if isinstance(layer, nn.Linear):
        return g @ layer.weight
    if isinstance(layer, nn.ReLU):
        return g * (inp > 0).to(g.dtype)
    if isinstance(layer, nn.Flatten):
        return g.reshape(inp.shape)
    if isinstance(layer, nn.Conv2d):
        # The transposed convolution, with the output padding that restores the input's size
        # (a strided convolution drops the last rows and columns its kernel does not reach).
        (sh, sw), (ph, pw), (kh, kw) = layer.stride, layer.padding, layer.kernel_size
        extra_h = inp.shape[-2] - ((g.shape[-2] - 1) * sh - 2 * ph + kh)
        extra_w = inp.shape[-1] - ((g.shape[-1] - 1) * sw - 2 * pw + kw)
        return F.conv_transpose2d(g, layer.weight, None, stride=layer.stride, padding=layer.padding,
                                  output_padding=(int(extra_h), int(extra_w)))
    # MaxPool2d: each output's gradient goes to the input position that won its window, as torch's
    # own backward routes it (ties included: the index max_pool2d returned).
    routed = torch.zeros_like(inp).flatten(2).scatter_add(2, indices.flatten(2), g.flatten(2))
    return routed.reshape(inp.shape)


def export_gradient_graph(model: nn.Module, path: Path, opset: int) -> Path:
    """model (logits out, an nn.Sequential) -> explain.onnx with a dynamic batch axis."""
    graph = GradientGraph(model.cpu().eval())
    example = (torch.zeros(2, 1, 28, 28), torch.zeros(2, graph_classes(model)))
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.export's pytree, not ours to fix
        # Both inputs share the batch axis on purpose; the exporter says so once per export.
        warnings.filterwarnings("ignore", "The axis name", UserWarning)
        torch.onnx.export(graph, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          opset_version=opset, dynamo=True, verbose=False, external_data=False,
                          dynamic_shapes=({0: batch}, {0: batch}))
    return Path(path)


def graph_classes(model: nn.Module) -> int:
    """The number of logits: the out_features of the last Linear layer."""
    return [layer for layer in model.modules() if isinstance(layer, nn.Linear)][-1].out_features
