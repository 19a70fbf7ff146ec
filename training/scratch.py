"""Softmax regression from scratch, as d2l.ai teach it: explicit W and b, no autograd.

Model: o = x W + b. Loss: mean cross-entropy of softmax(o). For one example with one-hot label y,
d loss / d o = softmax(o) - y, so the batch gradients are dW = x^T G / n and db = sum(G) / n with
G = softmax(o) - Y. A hand-written SGD step follows.
"""
from __future__ import annotations

import torch
from torch import nn

from training.architectures import ARCHS
from training.models import build_model


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax; subtracting the row max keeps exp() from overflowing (logits of 1000)."""
    shifted = logits - logits.max(dim=1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=1, keepdim=True)


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log softmax(o) = (o - max) - log(sum(exp(o - max))): never log(0) for far-off classes."""
    shifted = logits - logits.max(dim=1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=1, keepdim=True).log()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of -log softmax(o)[y] over the batch."""
    rows = torch.arange(len(labels), device=labels.device)
    return -log_softmax(logits)[rows, labels].mean()


def cross_entropy_grad(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d mean-cross-entropy / d logits = (softmax(o) - one_hot(y)) / n."""
    grad = softmax(logits)
    grad[torch.arange(len(labels), device=labels.device), labels] -= 1.0
    return grad / len(labels)


class ScratchSoftmaxRegression:
    """W [784, 10] and b [10] as plain tensors, trained by `train_step` (SGD, no autograd)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, lr: float) -> None:
        self.weight, self.bias, self.lr = weight, bias, lr

    @classmethod
    def from_module(cls, linear_model: nn.Sequential, lr: float) -> "ScratchSoftmaxRegression":
        """Start from the initial weights of `--model linear` (N(0, 0.01), zero bias), so both
        implementations begin at the same point for the same seed."""
        layer = linear_model[1]
        return cls(layer.weight.detach().T.clone(), layer.bias.detach().clone(), lr)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.reshape(len(images), -1) @ self.weight + self.bias

    def gradients(self, images: torch.Tensor, labels: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, logits, dW, db) for one batch."""
        x = images.reshape(len(images), -1)
        logits = x @ self.weight + self.bias
        grad = cross_entropy_grad(logits, labels)
        return cross_entropy(logits, labels), logits, x.T @ grad, grad.sum(dim=0)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        loss, logits, grad_w, grad_b = self.gradients(images, labels)
        self.weight -= self.lr * grad_w
        self.bias -= self.lr * grad_b
        return loss, logits

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images)

    def to_module(self) -> nn.Sequential:
        """The same function as `--model linear`'s nn.Sequential, for export (logits out)."""
        model = build_model(ARCHS["linear"])
        with torch.no_grad():
            model[1].weight.copy_(self.weight.T)
            model[1].bias.copy_(self.bias)
        return model.to(self.weight.device)
