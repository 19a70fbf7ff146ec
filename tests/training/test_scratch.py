"""The from-scratch softmax regression against torch's own softmax, loss and autograd."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.models import new_model
from training.scratch import (ScratchSoftmaxRegression, cross_entropy, cross_entropy_grad,
                              log_softmax, softmax)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 10, (16,), generator=g)
    return logits, labels


def test_softmax_and_log_softmax_match_torch(batch):
    logits, _ = batch
    assert torch.allclose(softmax(logits), torch.softmax(logits, dim=1), atol=1e-12)
    assert torch.allclose(log_softmax(logits), torch.log_softmax(logits, dim=1), atol=1e-12)


def test_loss_equals_torch_cross_entropy(batch):
    logits, labels = batch
    assert torch.allclose(cross_entropy(logits, labels), F.cross_entropy(logits, labels),
                          atol=1e-12)


def test_gradient_equals_autograd(batch):
    logits, labels = batch
    logits = logits.clone().requires_grad_(True)
    F.cross_entropy(logits, labels).backward()
    assert (cross_entropy_grad(logits.detach(), labels) - logits.grad).abs().max() <= 1e-6


def test_weight_gradients_equal_autograd():
    torch.manual_seed(0)
    model = new_model("linear").double()
    images = torch.rand(32, 1, 28, 28, dtype=torch.float64)
    labels = torch.randint(0, 10, (32,))
    F.cross_entropy(model(images), labels).backward()
    scratch = ScratchSoftmaxRegression.from_module(model, lr=0.1)
    loss, _, grad_w, grad_b = scratch.gradients(images, labels)
    assert (grad_w - model[1].weight.grad.T).abs().max() <= 1e-6
    assert (grad_b - model[1].bias.grad).abs().max() <= 1e-6
    assert torch.isclose(loss, F.cross_entropy(model(images), labels))


@pytest.mark.parametrize("scale", [1000.0, -1000.0])
def test_stays_finite_for_huge_logits(scale):
    logits = torch.tensor([[scale, 0.0, -scale] + [0.0] * 7, [scale] * 10])
    labels = torch.tensor([2, 0])
    for value in (softmax(logits), log_softmax(logits), cross_entropy(logits, labels),
                  cross_entropy_grad(logits, labels)):
        assert torch.isfinite(value).all()
    assert torch.allclose(softmax(logits).sum(dim=1), torch.ones(2))
    assert torch.allclose(cross_entropy(logits, labels), F.cross_entropy(logits, labels))


def test_sgd_step_matches_torch_sgd():
    torch.manual_seed(1)
    model = new_model("linear")
    scratch = ScratchSoftmaxRegression.from_module(model, lr=0.1)
    images, labels = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(model(images), labels).backward()
    optimizer.step()
    scratch.train_step(images, labels)
    assert torch.allclose(scratch.to_module()(images), model(images), atol=1e-6)
