"""POST /predict through the Flask test client, in every input form, on real Fashion-MNIST images;
answers must equal the offline onnxruntime argmax."""
from __future__ import annotations

import base64
import io

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests.conftest import serving_app
from tests.conftest import png_bytes as png

COUNT = 12


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


@pytest.fixture(scope="module")
def images(fmnist_dir) -> np.ndarray:
    from training.data import load_idx
    return load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)[::25][:COUNT]


@pytest.fixture(scope="module")
def expected(trained_model_dir, images) -> list[int]:
    """Labels from onnxruntime directly, without the app: the reference the server must match."""
    session = ort.InferenceSession(str(trained_model_dir / "model.onnx"))
    probs = session.run(None, {"image": (images[:, None] / np.float32(255)).astype(np.float32)})[0]
    return probs.argmax(axis=1).tolist()



def b64(array: np.ndarray) -> str:
    return base64.b64encode(png(array)).decode()


def labels_of(response) -> list[int]:
    body = response.get_json()
    return [p["class_index"] for p in body.get("predictions", [body])]


def test_multipart_single_file_answers_one_object(client, images, expected):
    response = client.post("/predict", data={"image": (io.BytesIO(png(images[0])), "a.png")})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"label", "class_index", "confidence", "probabilities", "ood_score",
                         "out_of_distribution", "model_version"}
    assert body["class_index"] == expected[0]
    assert list(body["probabilities"])[body["class_index"]] == body["label"]
    assert body["confidence"] == max(body["probabilities"].values())
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-5


def test_multipart_repeated_field_keeps_input_order(client, images, expected):
    files = [(io.BytesIO(png(image)), f"{i}.png") for i, image in enumerate(images)]
    response = client.post("/predict", data={"image": files})
    assert response.status_code == 200
    assert labels_of(response) == expected


@pytest.mark.parametrize("content_type", ["image/png", "image/x-anything", "application/octet-stream"])
def test_raw_body(client, images, expected, content_type):
    response = client.post("/predict", data=png(images[1]), content_type=content_type)
    assert response.status_code == 200 and labels_of(response) == expected[1:2]


@pytest.mark.parametrize("encode", [
    b64,
    lambda a: "data:image/png;base64," + b64(a),
    lambda a: base64.urlsafe_b64encode(png(a)).decode().rstrip("="),
    lambda a: "\n".join(b64(a)[i:i + 76] for i in range(0, len(b64(a)), 76)),  # MIME line breaks
])
def test_json_base64_image(client, images, expected, encode):
    response = client.post("/predict", json={"image": encode(images[2])})
    assert response.status_code == 200 and labels_of(response) == expected[2:3]


def test_json_images_list_answers_a_list_in_order(client, images, expected):
    response = client.post("/predict", json={"images": [b64(image) for image in images]})
    assert response.status_code == 200 and labels_of(response) == expected
    one = client.post("/predict", json={"images": [b64(images[0])]})
    assert labels_of(one) == expected[:1] and "predictions" in one.get_json()


@pytest.mark.parametrize("as_pixels", [
    lambda a: a.tolist(),  # 28x28 ints, 0..255
    lambda a: a.reshape(-1).tolist(),  # 784 ints
    lambda a: (a / 255.0).tolist(),  # floats in [0, 1]
])
def test_json_pixel_arrays(client, images, expected, as_pixels):
    single = client.post("/predict", json={"image": as_pixels(images[3])})
    assert single.status_code == 200 and labels_of(single) == expected[3:4]
    several = client.post("/predict", json={"images": [as_pixels(image) for image in images]})
    assert labels_of(several) == expected


def test_mixed_base64_and_pixels_in_one_list(client, images, expected):
    items = [b64(image) if i % 2 else image.tolist() for i, image in enumerate(images)]
    assert labels_of(client.post("/predict", json={"images": items})) == expected


def test_model_version_in_body_and_header(client, trained_model_dir):
    import json
    version = json.loads((trained_model_dir / "model.json").read_text())["version"]
    response = client.post("/predict", json={"image": [0] * 784})
    assert response.get_json()["model_version"] == version
    assert response.headers["X-Model-Version"] == version


def test_a_large_light_background_photo_is_fitted_and_inverted(client, images, expected):
    # The real image, dark-on-light and scaled up 10x in RGB: the same class comes back.
    photo = np.repeat(np.repeat(255 - images[4], 10, axis=0), 10, axis=1)
    response = client.post("/predict", data=png(np.stack([photo] * 3, axis=-1)), content_type="image/png")
    assert response.status_code == 200 and labels_of(response) == expected[4:5]


def test_answer_is_byte_for_byte_what_jsonify_writes(client, images):
    response = client.post("/predict", data=png(images[0]), content_type="image/png")
    assert response.mimetype == "application/json"
    with client.application.app_context():
        assert response.get_data() == client.application.json.response(response.get_json()).get_data()
