"""The one layer builder: the torch backend rebuilds exactly the net training saved, for every
architecture and every layer option."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.nets import ARITY, build_layer, build_sequential
from inference.torch_backend import load_torch
from training.architectures import ARCHS
from training.export import save_checkpoint
from training.models import new_model


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_the_backend_rebuilds_the_saved_net(tmp_path, name):
    torch.manual_seed(1)
    model = new_model(name).eval()
    arch = {"name": name, "layers": ARCHS[name]}
    path = save_checkpoint(tmp_path / "model.pt", model, arch, [str(i) for i in range(10)], {}, {})
    rebuilt = build_sequential(torch.load(path, weights_only=True)["arch"]["layers"])
    assert str(rebuilt) == str(model)  # every layer with every option (padding, kernel, p, sizes)
    run, _ = load_torch(path, device="cpu")
    batch = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(batch)), dim=1).numpy()
    np.testing.assert_allclose(run(batch)["probabilities"], expected, rtol=0, atol=1e-6)


def test_every_kind_the_architectures_use_is_built_with_all_its_options():
    used = {entry[0] for layers in ARCHS.values() for entry in layers}
    assert used <= set(ARITY)
    assert str(build_layer("conv2d", 1, 16, 3, 1)) == str(torch.nn.Conv2d(1, 16, kernel_size=3, padding=1))
    assert str(build_layer("dropout", 0.25)) == str(torch.nn.Dropout(0.25))


@pytest.mark.parametrize("entry", [["conv2d", 1, 16, 3], ["dropout"], ["linear", 784], ["softmax"]])
def test_a_layer_missing_an_option_or_unknown_is_refused(entry):
    with pytest.raises(ValueError):
        build_layer(*entry)


def test_serving_net_scales_logits_it_cannot_fold():
    """1/T goes into a final Linear's weights; a net ending otherwise gets it on the logits."""
    import torch
    from torch import nn

    from inference.nets import serving_net

    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    for net in (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
                nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.ReLU())):
        with torch.no_grad():
            want = torch.softmax(net(x) / 2.0, dim=1)
            torch.testing.assert_close(serving_net(net, temperature=2.0)(x), want)
            torch.testing.assert_close(serving_net(net, temperature=1.0)(x), torch.softmax(net(x), dim=1))
