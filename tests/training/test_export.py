"""The ONNX export and checkpoint, checked with the real onnx checker and onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from training.architectures import ARCHS
from training.errors import ExportError
from training.export import check_onnx, export_onnx, save_checkpoint
from training.models import build_model, new_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A linear model with weights big enough to give logits of several hundred, exported."""
    torch.manual_seed(0)
    model = new_model("linear")
    with torch.no_grad():
        model[1].weight.normal_(0.0, 5.0)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_one_self_contained_file_with_the_contract_names(exported):
    _, path = exported
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    assert all(not init.HasField("data_location") or init.data_location == 0
               for init in proto.graph.initializer)


@pytest.mark.parametrize("batch", [1, 7])
def test_softmax_in_the_graph_is_stable_for_large_logits(exported, batch):
    model, path = exported
    images = torch.rand(batch, 1, 28, 28)
    assert model(images).abs().max() > 100  # far outside exp()'s float32 range without shifting
    probs = ort.InferenceSession(str(path)).run(None, {"image": images.numpy()})[0]
    assert probs.shape == (batch, 10) and probs.dtype == np.float32
    assert np.isfinite(probs).all()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(probs, torch.softmax(model(images), dim=1).detach().numpy(), atol=1e-5)


def test_self_check_passes_for_the_exported_model(exported):
    model, path = exported
    figures = check_onnx(path, model, torch.rand(50, 1, 28, 28))
    assert figures["same_argmax"] and figures["max_abs_diff"] <= 1e-5


def test_self_check_fails_when_onnx_and_torch_disagree(exported):
    model, path = exported
    other = build_model(ARCHS["linear"])
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other[1].bias[3] += 0.01  # a small drift, still a mismatch
    with pytest.raises(ExportError, match="onnxruntime disagrees with torch"):
        check_onnx(path, other, torch.rand(50, 1, 28, 28))


def test_self_check_fails_on_a_corrupt_file(tmp_path, exported):
    model, _ = exported
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ExportError, match=str(path)):
        check_onnx(path, model, torch.rand(2, 1, 28, 28))


def test_checkpoint_loads_with_weights_only_and_rebuilds(tmp_path):
    torch.manual_seed(0)
    model = new_model("cnn")
    arch = {"name": "cnn", "layers": ARCHS["cnn"]}
    path = save_checkpoint(tmp_path / "model.pt", model, arch, ["c"] * 10, {"lr": 0.1},
                           {"test_accuracy": 0.5})
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == 1 and ckpt["arch"] == arch and ckpt["classes"] == ["c"] * 10
    rebuilt = build_model(ckpt["arch"]["layers"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(rebuilt(images), model(images))
