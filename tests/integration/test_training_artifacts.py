"""write_artifacts as a whole: a failing self-check leaves nothing behind and exits non-zero."""
from __future__ import annotations

import pytest
import torch

import training.export as export
from training import cli
from training.architectures import ARCHS
from training.errors import ExportError
from training.outputs import has_model
from training.data import load_dataset, write_synthetic
from training.export import export_onnx
from training.models import new_model


def export_a_different_model(model, path, **head):
    """A real, valid ONNX export - of other weights: what a broken exporter would produce."""
    other = new_model("linear")
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other[1].weight.mul_(1.5)
    return export_onnx(other, path, **head)


@pytest.fixture
def data(tmp_path):
    return load_dataset(write_synthetic(tmp_path / "data", train=40, test=20), download=False)


def test_mismatch_fails_and_leaves_no_model(tmp_path, data, monkeypatch):
    # Fault injection: the only way to get a wrong ONNX file out of a correct exporter.
    monkeypatch.setattr(export, "export_onnx", export_a_different_model)
    torch.manual_seed(0)
    model = new_model("linear")
    with torch.no_grad():
        model[1].weight.normal_(0, 1.0)  # big enough for the 1.5x to move probabilities
    epochs = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.5, "seconds": 0.1}]
    with pytest.raises(ExportError, match="onnxruntime disagrees with torch"):
        export.write_artifacts(tmp_path / "out", model, {"name": "linear",
                                                         "layers": ARCHS["linear"]},
                               "module", data, {}, epochs)
    assert list((tmp_path / "out").iterdir()) == []  # no staging folder, no model files


def test_cli_turns_the_mismatch_into_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export, "export_onnx", export_a_different_model)
    folder = write_synthetic(tmp_path / "data", train=40, test=20)
    code = cli.main(["--data-dir", str(folder), "--out", str(tmp_path / "out"), "--epochs", "2",
                     "--batch-size", "8", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "model.onnx" in err[0]
    assert not has_model(tmp_path / "out")
