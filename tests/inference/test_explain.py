"""The explainer on real models and real test images: exact for the linear model against model.pt's
weights, Integrated Gradients equal to Captum's on the torch model for the MLP and the CNN, and
faithful (deleting the most-attributed pixels costs the class more than deleting random ones)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.errors import InputError
from inference.explain import (EXACT, INTEGRATED_GRADIENTS, STEPS, ExplainUnavailable, is_affine, quadrature,
                               resolve_class)
from inference.predictor import Predictor
from tests.conftest import without_explain

torch = pytest.importorskip("torch")
COUNT = 24  # real test images per check


@pytest.fixture(scope="module")
def images(test_images):
    return test_images[:COUNT, None].astype(np.float32) / 255.0


def torch_net(model_dir):
    from inference.nets import build_sequential

    checkpoint = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    net = build_sequential(checkpoint["arch"]["layers"])
    net.load_state_dict(checkpoint["state_dict"])
    return net.eval(), checkpoint["state_dict"]


def explained(model_dir, images, targets=None):
    predictor = Predictor.load(model_dir)
    if targets is None:
        targets = predictor.predict(images).argmax(axis=1).tolist()
    return predictor, targets, predictor.explain(images, targets)


def test_linear_attributions_are_exactly_w_times_x_and_sum_to_the_logit_gap(trained_model_dir, images):
    _, state = torch_net(trained_model_dir)
    weights = state["1.weight"].double().numpy()  # [10, 784]: ["flatten"], ["linear", 784, 10]
    bias = state["1.bias"].double().numpy()
    targets = [index % 10 for index in range(COUNT)]  # every class, not only the predicted one
    _, _, explanations = explained(trained_model_dir, images, targets)
    for image, target, explanation in zip(images, targets, explanations):
        x = image.reshape(-1).astype(np.float64)
        assert explanation.method == EXACT and explanation.class_index == target
        np.testing.assert_allclose(explanation.attributions.reshape(-1), weights[target] * x, rtol=0, atol=1e-7)
        logit, baseline_logit = weights[target] @ x + bias[target], bias[target]
        assert abs(explanation.logit - logit) < 1e-5 and abs(explanation.baseline_logit - baseline_logit) < 1e-6
        assert abs(explanation.attributions.sum() - (explanation.logit - explanation.baseline_logit)) < 1e-5
        assert abs(explanation.convergence_delta) < 1e-5


def test_linear_templates_are_model_pt_weights_and_biases(trained_model_dir):
    _, state = torch_net(trained_model_dir)
    templates, biases = Predictor.load(trained_model_dir).explainer.templates()
    np.testing.assert_allclose(templates.reshape(10, -1), state["1.weight"].numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(biases, state["1.bias"].numpy(), rtol=0, atol=1e-6)


# mlp and cnn train a model of their own first (about 12 s each): slow, left out of make test-fast
TRAINED = [pytest.param("mlp", marks=pytest.mark.slow), pytest.param("cnn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("arch", TRAINED)
def test_integrated_gradients_agree_with_captum(trained_arch_dir, images, arch, record_property):
    from captum.attr import IntegratedGradients

    model_dir = trained_arch_dir(arch)
    net, _ = torch_net(model_dir)
    predictor, targets, ours = explained(model_dir, images)
    assert predictor.explainer.method == INTEGRATED_GRADIENTS
    theirs, deltas = IntegratedGradients(net).attribute(
        torch.from_numpy(images), baselines=torch.zeros_like(torch.from_numpy(images)), target=targets,
        n_steps=STEPS, method="gausslegendre", return_convergence_delta=True)
    ours_array = np.stack([e.attributions for e in ours])
    np.testing.assert_allclose(ours_array, theirs[:, 0].double().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose([e.convergence_delta for e in ours], deltas.double().numpy(), atol=1e-4)
    # Completeness: the attributions add up to the logit gap up to the quadrature's error.
    gaps = np.array([e.logit - e.baseline_logit for e in ours])
    relative = np.abs([e.convergence_delta for e in ours]) / np.maximum(np.abs(gaps), 1e-3)
    print(f"{arch}: completeness |delta| / |logit gap| median {np.median(relative):.2e}, max {relative.max():.2e}")
    record_property("completeness_relative_median", float(np.median(relative)))
    record_property("completeness_relative_max", float(relative.max()))
    assert np.median(relative) < 0.02 and relative.max() < 0.1


@pytest.mark.parametrize("arch", ["linear", *TRAINED])
def test_deleting_the_most_attributed_pixels_costs_more_than_deleting_random_ones(
        trained_model_dir, trained_arch_dir, test_images, arch):
    model_dir = trained_model_dir if arch == "linear" else trained_arch_dir(arch)
    batch = test_images[:100, None].astype(np.float32) / 255.0
    predictor, targets, explanations = explained(model_dir, batch)
    rows = np.arange(len(batch))
    before = predictor.predict(batch)[rows, targets]
    rng = np.random.default_rng(0)
    top, random = batch.copy(), batch.copy()
    for index, explanation in enumerate(explanations):
        lit = np.flatnonzero(batch[index, 0].reshape(-1) > 0)  # only these change when set to black
        count = len(lit) // 5
        ranked = np.argsort(-explanation.attributions.reshape(-1))[:count]
        top[index, 0].reshape(-1)[ranked] = 0.0
        random[index, 0].reshape(-1)[rng.choice(lit, count, replace=False)] = 0.0
    top_drop = before - predictor.predict(top)[rows, targets]
    random_drop = before - predictor.predict(random)[rows, targets]
    print(f"{arch}: class probability drop, top-attributed {top_drop.mean():.3f}, random {random_drop.mean():.3f}")
    # A one-epoch model is unsure (small probabilities, small drops): a ratio, not a margin.
    assert top_drop.mean() > 0 and top_drop.mean() > 2 * max(random_drop.mean(), 0.0)
    assert (top_drop > random_drop).mean() >= 0.8


def test_artifacts_without_explain_onnx_predict_but_refuse_to_explain(trained_model_dir, tmp_path, images):
    predictor = Predictor.load(without_explain(trained_model_dir, tmp_path / "old"))
    predictor.warm_up()
    assert predictor.explainer is None and predictor.predict(images).shape == (COUNT, 10)
    with pytest.raises(ExplainUnavailable, match="retrain to explain") as raised:
        predictor.explain(images, [0] * COUNT)
    assert raised.value.status == 422 and raised.value.code == "explain_unavailable"


def test_a_corrupt_explain_onnx_fails_the_load_with_its_name(trained_model_dir, tmp_path):
    import shutil

    from inference.errors import ModelLoadError

    shutil.copytree(trained_model_dir, tmp_path / "m")
    (tmp_path / "m" / "explain.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="explain.onnx: sha256"):
        Predictor.load(tmp_path / "m")


def test_the_quadrature_is_captums_gausslegendre():
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    ours_alphas, ours_weights = quadrature(STEPS)
    np.testing.assert_allclose(ours_alphas, alphas(STEPS), atol=1e-7)
    np.testing.assert_allclose(ours_weights, step_sizes(STEPS), atol=1e-12)
    assert abs(ours_weights.sum() - 1.0) < 1e-12


def test_class_by_index_or_label():
    classes = ["T-shirt/top", "Trouser", "Dress"]
    assert resolve_class("2", classes) == 2 and resolve_class(" dress ", classes) == 2
    for bad in ("3", "-1", "Shoe", ""):
        with pytest.raises(InputError) as raised:
            resolve_class(bad, classes)
        assert raised.value.status == 400


def test_only_flatten_linear_and_dropout_are_affine():
    assert is_affine([["flatten"], ["linear", 784, 10]])
    assert is_affine([["flatten"], ["dropout", 0.2], ["linear", 784, 10]])
    assert not is_affine([["flatten"], ["linear", 784, 256], ["relu"], ["linear", 256, 10]])
    assert not is_affine(None) and not is_affine([])
