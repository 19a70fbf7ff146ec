"""Architectures rebuilt from their declarative layer lists, as the app's torch backend does."""
from __future__ import annotations

import pytest
import torch

from training.architectures import ARCHS
from training.models import build_model, new_model


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_layers_rebuild_a_net_with_matching_keys(name):
    model = new_model(name)
    rebuilt = build_model(ARCHS[name])
    assert rebuilt.state_dict().keys() == model.state_dict().keys()
    rebuilt.load_state_dict(model.state_dict())
    images = torch.rand(3, 1, 28, 28)
    assert model(images).shape == (3, 10)
    assert torch.equal(rebuilt(images), model(images))


def test_layer_lists_are_plain_kinds_and_ints():
    kinds = {"flatten", "linear", "relu", "conv2d", "maxpool2d", "dropout"}
    for layers in ARCHS.values():
        for kind, *args in layers:
            assert kind in kinds and all(isinstance(a, (int, float)) for a in args)


def test_linear_is_the_seeds_softmax_regression():
    torch.manual_seed(0)
    model = new_model("linear")
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear"]
    weight, bias = model[1].weight, model[1].bias
    assert weight.shape == (10, 784)
    assert abs(weight.std().item() - 0.01) < 0.001 and abs(weight.mean().item()) < 0.001
    assert torch.count_nonzero(bias) == 0


def test_dropout_kind_takes_a_float():
    model = build_model([["flatten"], ["dropout", 0.25], ["linear", 784, 10]])
    assert model[1].p == 0.25
