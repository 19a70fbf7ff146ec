"""POST /explain and the templates routes through the Flask test client, on real Fashion-MNIST
images: /predict's input forms and answers plus an explanation; 422 for artifacts without
explain.onnx, never a 500."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import png_bytes as png
from tests.conftest import serving_app, without_explain

COUNT = 4


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


@pytest.fixture(scope="module")
def old_client(trained_model_dir, tmp_path_factory):
    folder = without_explain(trained_model_dir, tmp_path_factory.mktemp("old") / "model")
    return serving_app(MODEL_DIR=folder).test_client()


@pytest.fixture(scope="module")
def images(test_images) -> np.ndarray:
    return test_images[::50][:COUNT]


def upload(image) -> dict:
    return {"image": (io.BytesIO(png(image)), "shirt.png")}


def test_one_image_answers_the_prediction_and_an_exact_explanation(client, images):
    predicted = client.post("/predict", data=upload(images[0])).get_json()
    body = client.post("/explain", data=upload(images[0])).get_json()
    explanation = body.pop("explanation")
    assert body == predicted
    assert explanation["class_index"] == predicted["class_index"] and explanation["class"] == predicted["label"]
    assert explanation["method"] == "exact" and explanation["baseline"] == "black" and explanation["steps"] is None
    attributions = np.array(explanation["attributions"])
    assert attributions.shape == (28, 28)
    assert abs(attributions.sum() - (explanation["logit"] - explanation["baseline_logit"])) < 1e-5
    assert abs(explanation["convergence_delta"]) < 1e-5


def test_attributions_lie_over_the_input_the_model_saw(client, images):
    body = client.post("/explain?return_input=pixels", data=upload(images[1])).get_json()
    seen = np.array(body["input_pixels"])
    attributions = np.array(body["explanation"]["attributions"])
    assert (attributions[seen == 0] == 0).all()  # a black pixel is the baseline: it contributes nothing
    assert (attributions[seen > 0] != 0).any()


def test_a_batch_in_json_explains_each_image_in_order(client, images):
    pixels = [image.tolist() for image in images]
    predicted = client.post("/predict", json={"images": pixels}).get_json()["predictions"]
    answers = client.post("/explain", json={"images": pixels}).get_json()["predictions"]
    assert [a["class_index"] for a in answers] == [p["class_index"] for p in predicted]
    assert [a["explanation"]["class_index"] for a in answers] == [p["class_index"] for p in predicted]


@pytest.mark.parametrize("value", ["3", "Dress", "dress"])
def test_class_names_another_class_by_index_or_label(client, images, value):
    body = client.post(f"/explain?class={value}", data=upload(images[0])).get_json()
    assert body["explanation"]["class_index"] == 3 and body["explanation"]["class"] == "Dress"


@pytest.mark.parametrize("value", ["10", "Shoe", "-1"])
def test_an_unknown_class_is_a_400(client, images, value):
    response = client.post(f"/explain?class={value}", data=upload(images[0]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_explain_keeps_predicts_limits_and_input_errors(trained_model_dir, images):
    limited = serving_app(MODEL_DIR=trained_model_dir, MAX_BATCH=2).test_client()
    assert limited.post("/explain", json={"images": [i.tolist() for i in images]}).status_code == 413
    bad = limited.post("/explain", data={"image": (io.BytesIO(b"not an image"), "x.png")})
    assert bad.status_code == 400
    assert limited.post("/explain", data="x", content_type="text/plain").status_code == 415


def test_old_artifacts_answer_422_retrain_to_explain_and_still_predict(old_client, images):
    for path, method in (("/explain", "post"), ("/explain/templates", "get"), ("/explain/templates.png", "get")):
        response = getattr(old_client, method)(path, data=upload(images[0])) if method == "post" \
            else old_client.get(path)
        assert response.status_code == 422, path
        error = response.get_json()["error"]
        assert error["code"] == "explain_unavailable" and "retrain to explain" in error["message"]
    assert old_client.post("/predict", data=upload(images[0])).status_code == 200


def test_templates_are_the_linear_weights_as_json(client, trained_model_dir):
    torch = pytest.importorskip("torch")
    state = torch.load(trained_model_dir / "model.pt", weights_only=True)["state_dict"]
    body = client.get("/explain/templates").get_json()
    assert [t["class_index"] for t in body["templates"]] == list(range(10))
    weights = np.array([t["weights"] for t in body["templates"]])
    np.testing.assert_allclose(weights.reshape(10, -1), state["1.weight"].numpy(), atol=1e-7)
    np.testing.assert_allclose([t["bias"] for t in body["templates"]], state["1.bias"].numpy(), atol=1e-6)
    assert body["scale"] == pytest.approx(np.abs(weights).max())


def test_templates_png_is_one_labelled_image_on_a_diverging_scale(client):
    response = client.get("/explain/templates.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB")).astype(int)
    assert image.shape[1] > image.shape[0] > 200
    reds = ((image[..., 0] - image[..., 2]) > 80).sum()
    blues = ((image[..., 2] - image[..., 0]) > 80).sum()
    assert reds > 1000 and blues > 1000  # both signs drawn


@pytest.mark.slow  # trains a CNN first
def test_a_cnn_explains_with_integrated_gradients_and_has_no_templates(trained_arch_dir, images):
    client = serving_app(MODEL_DIR=trained_arch_dir("cnn")).test_client()
    explanation = client.post("/explain", data=upload(images[0])).get_json()["explanation"]
    assert explanation["method"] == "integrated_gradients" and explanation["steps"] == 32
    gap = explanation["logit"] - explanation["baseline_logit"]
    assert abs(np.sum(explanation["attributions"]) - gap) < 0.05 * abs(gap) + 1e-3
    response = client.get("/explain/templates")
    assert response.status_code == 422 and "not linear" in response.get_json()["error"]["message"]
