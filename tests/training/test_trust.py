"""What training fits on the validation split: the temperature (lowers the NLL it is fitted on) and
the out-of-distribution detector, whose score the exported graph and the torch backend compute as
the numpy formula does; and the blocks model.json reports them in."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import calibration, ood
from training.data import Split, split_validation


def test_temperature_fit_recovers_an_overconfident_models_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 10))
    labels = np.array([rng.choice(10, p=p) for p in calibration.softmax(true_logits)])
    overconfident = 3.0 * true_logits  # the same ranking, three times too sharp
    temperature = calibration.fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert calibration.nll(overconfident, labels, temperature) < calibration.nll(overconfident, labels)
    after = calibration.ece(calibration.softmax(overconfident, temperature), labels)
    assert after < calibration.ece(calibration.softmax(overconfident), labels) and after < 0.03


def test_ece_of_a_perfectly_calibrated_bin_is_zero():
    probabilities = np.tile([0.75, 0.25], (8, 1))
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1])  # right 3 times in 4, as confident as that
    assert calibration.ece(probabilities, labels) == pytest.approx(0.0)


def test_validation_split_is_stratified_and_disjoint():
    labels = torch.arange(10).repeat_interleave(60)
    images = torch.arange(600).reshape(600, 1, 1).expand(600, 28, 28).to(torch.int64)
    rest, held = split_validation(Split(images, labels), 0.1, seed=0)
    assert len(rest) == 540 and len(held) == 60
    assert torch.bincount(held.labels).tolist() == [6] * 10
    assert not set(rest.images[:, 0, 0].tolist()) & set(held.images[:, 0, 0].tolist())


def test_auroc_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    inside, outside = rng.integers(0, 5, 40).astype(float), rng.integers(2, 8, 30).astype(float)
    pairs = (outside[:, None] > inside[None]).mean() + 0.5 * (outside[:, None] == inside[None]).mean()
    assert ood.auroc(inside, outside) == pytest.approx(pairs)


def test_model_json_reports_both_blocks(trained_model_dir):
    card = json.loads((trained_model_dir / "model.json").read_text())
    c, o = card["calibration"], card["ood"]
    assert c["method"] == "temperature-scaling" and c["temperature"] > 0 and c["bins"] == 15
    assert c["fitted_on"] == "validation" and c["fitted_images"] == card["dataset"]["validation_size"] == 60
    assert c["measured_on"] == "test" and c["measured_images"] == card["dataset"]["test_size"]
    assert {"ece_before", "ece_after", "nll_before", "nll_after"} <= set(c)
    assert c["validation"]["nll_after"] <= c["validation"]["nll_before"]  # what T was fitted to lower
    assert o["output"] == "ood_score" and np.isfinite(o["threshold"]) and o["fitted_images"] == 60
    assert 0.5 < o["auroc"] <= 1 and {"noise_uniform", "noise_gaussian", "noise_salt"} <= set(
        o["measured_against"]["families"])
    assert card["dataset"]["train_size"] == 540


def test_onnx_and_torch_compute_the_numpy_ood_score(trained_model_dir, test_images):
    from inference.torch_backend import load_torch

    checkpoint = torch.load(trained_model_dir / "model.pt", weights_only=True)
    tensors = {name: value.numpy() for name, value in checkpoint["ood"].items() if name != "threshold"}
    noise = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    batch = np.concatenate([test_images[:50] / np.float32(255), noise])[:, None].astype(np.float32)
    reference = ood.score(batch, tensors)
    session = ort.InferenceSession(str(trained_model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    probabilities, scores = session.run(["probabilities", "ood_score"], {"image": batch})
    np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-3)
    run, _ = load_torch(trained_model_dir / "model.pt", device="cpu")
    outputs = run(batch)
    np.testing.assert_allclose(outputs["ood_score"], reference, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, atol=1e-5)
    # and the probabilities are the calibrated ones: softmax(logits / T)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    net.load_state_dict(checkpoint["state_dict"])
    with torch.no_grad():
        logits = net(torch.from_numpy(batch)).double().numpy()
    np.testing.assert_allclose(probabilities, calibration.softmax(logits, checkpoint["temperature"]), atol=1e-5)


@pytest.mark.slow
def test_auroc_on_digits_photos_and_noise_reaches_the_goal(trained_model_dir, test_images):
    """The issue's goal with the model trained on the 900-image sample: AUROC >= 0.95 of the served
    score, test-split clothing against scikit-learn's digits, scikit-image's photos and noise."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skimage")
    from inference.predictor import Predictor
    from training import ood_families

    predictor = Predictor.load(trained_model_dir, device="cpu")
    outside = np.concatenate([ood_families.digits(), ood_families.photos(), *ood_families.noise(100).values()])
    _, inside_scores = predictor.infer((test_images / np.float32(255))[:, None])
    _, outside_scores = predictor.infer(outside[:, None])
    assert ood.auroc(inside_scores, outside_scores) >= 0.95


def test_the_served_graph_stays_small(trained_model_dir):
    """The +5% CPU goal rests on the graph's size (a served request pays every node in cold caches):
    the detector is 7 nodes of a few cheap kinds, and the temperature is folded into the Linear."""
    import onnx

    graph = onnx.load(str(trained_model_dir / "model.onnx")).graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(name: str) -> set[int]:
        seen, stack = set(), [name]
        while stack:
            node = producer.get(stack.pop())
            if node is not None and id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.input)
        return seen

    by_id = {id(node): node for node in graph.node}
    classifier, detector = ancestors("probabilities"), ancestors("ood_score")
    assert sorted(by_id[i].op_type for i in classifier) == ["Gemm", "Reshape", "Softmax"]
    kinds = [by_id[i].op_type for i in detector - classifier]
    assert len(kinds) <= 7, kinds
    assert set(kinds) <= {"Conv", "ReduceL1", "ReduceSumSquare", "Gemm", "Add"}, kinds


def test_torch_backend_serves_a_checkpoint_of_the_first_detector_without_the_flag(trained_model_dir, tmp_path, caplog):
    """model.pt files of the first detector (class PCA residual) hold other tensors: the torch
    backend still serves their calibrated probabilities, with a warning and no ood_score."""
    from inference.torch_backend import load_torch

    checkpoint = torch.load(trained_model_dir / "model.pt", weights_only=True)
    checkpoint["ood"] = {"threshold": 2.5, "class_means": torch.zeros(10, 784),
                         "class_bases": torch.zeros(10, 5, 784), "residual_ref": torch.ones(2)}
    torch.save(checkpoint, tmp_path / "model.pt")
    run, _ = load_torch(tmp_path / "model.pt", device="cpu")
    outputs = run(np.zeros((2, 1, 28, 28), np.float32))
    assert set(outputs) == {"probabilities"} and outputs["probabilities"].shape == (2, 10)
    assert "older kind" in caplog.text
