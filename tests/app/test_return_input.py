"""POST /predict?return_input=png|pixels through the Flask test client, on real Fashion-MNIST images:
the returned 28x28 input is exactly what the model was given."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import serving_app
from inference.decode import decode_image
from tests.conftest import png_bytes as png


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


@pytest.fixture(scope="module")
def images(fmnist_dir) -> np.ndarray:
    from training.data import load_idx
    return load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)[:4]



def decoded_png(text: str) -> np.ndarray:
    image = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))
    return np.asarray(image)


def post_file(client, data: bytes, query: str = "return_input=png"):
    return client.post(f"/predict?{query}", data={"image": (io.BytesIO(data), "x.png")})


def test_png_is_the_28x28_test_image_itself(client, images):
    body = post_file(client, png(images[0])).get_json()
    assert list(body) == ["label", "class_index", "confidence", "probabilities", "ood_score", "out_of_distribution",
                          "input_png", "model_version"]
    # A 28x28 8-bit image reaches the model as uint8 / 255: its PNG gives back the same bytes.
    assert np.array_equal(decoded_png(body["input_png"]), images[0])


def test_pixels_sent_back_give_the_same_probabilities(client, images):
    first = post_file(client, png(images[1]), "return_input=pixels").get_json()
    pixels = np.array(first["input_pixels"])
    assert pixels.shape == (28, 28)
    assert np.array_equal(pixels.astype(np.float32), images[1] / np.float32(255))
    again = client.post("/predict", json={"image": first["input_pixels"]}).get_json()
    assert again["probabilities"] == first["probabilities"]


def test_the_input_is_the_preprocessed_one_not_the_upload(client, images):
    """A dark T-shirt on white paper, larger and not square: the model sees it inverted, padded and
    shrunk, and the answer shows exactly that array, the one decode_image gives."""
    photo = np.asarray(Image.fromarray(255 - images[2]).resize((90, 60)))
    body = post_file(client, png(photo), "return_input=png,pixels").get_json()
    expected = decode_image(png(photo))
    assert np.array_equal(np.array(body["input_pixels"], dtype=np.float32), expected)
    assert np.array_equal(decoded_png(body["input_png"]), np.rint(expected * 255).astype(np.uint8))
    assert np.median(decoded_png(body["input_png"])[0]) < 10  # the background became dark


def test_batch_gets_each_input_beside_its_prediction(client, images):
    files = [(io.BytesIO(png(image)), f"{i}.png") for i, image in enumerate(images)]
    body = client.post("/predict?return_input=PNG", data={"image": files}).get_json()
    assert [decoded_png(p["input_png"]).tolist() for p in body["predictions"]] == images.tolist()
    assert set(body) == {"predictions", "model_version"}


def test_json_and_raw_bodies_take_the_option_too(client, images):
    by_json = client.post("/predict?return_input=png",
                          json={"images": [base64.b64encode(png(images[3])).decode(), images[0].tolist()]})
    assert [np.array_equal(decoded_png(p["input_png"]), image)
            for p, image in zip(by_json.get_json()["predictions"], [images[3], images[0]])] == [True, True]
    raw = client.post("/predict?return_input=pixels", data=png(images[3]), content_type="image/png")
    assert np.array_equal(np.array(raw.get_json()["input_pixels"], dtype=np.float32), images[3] / np.float32(255))


def test_without_the_option_nothing_is_added(client, images):
    body = post_file(client, png(images[0]), "").get_json()
    assert "input_png" not in body and "input_pixels" not in body


@pytest.mark.parametrize("value", ["", "jpeg", "png,jpeg", ",", "true"])
def test_unknown_values_are_a_400_naming_the_parameter(client, images, value):
    response = post_file(client, png(images[0]), f"return_input={value}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert "return_input must be png, pixels or png,pixels" in error["message"]
