"""Calibrated probabilities and the out-of-distribution flag through the HTTP app: /predict's
fields, REJECT_OUT_OF_DISTRIBUTION=1's 422, the v2 outputs, /metrics' drift signal, and a model
trained before the detector (no ood_score output, no blocks) serving with the fields null."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import png_bytes, serving_app
from tests.prometheus_text import samples, value

INFER = "/v2/models/fashion-mnist/infer"


@pytest.fixture(scope="module")
def cat_png():
    skimage_data = pytest.importorskip("skimage.data")
    return png_bytes(skimage_data.chelsea())  # scikit-image's photo of a cat (RGB)


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


@pytest.fixture(scope="module")
def clothing(trained_model_dir, test_images):
    """A test image the model accepts as clothing, as a PNG."""
    from inference.predictor import Predictor

    predictor = Predictor.load(trained_model_dir, device="cpu")
    _, scores = predictor.infer((test_images[:20] / np.float32(255))[:, None])
    return png_bytes(test_images[int(np.argmin(scores))])


def post(client, data: bytes):
    return client.post("/predict", data=data, content_type="image/png")


def test_predict_carries_the_score_and_flags_the_cat(client, cat_png, clothing, trained_model_dir):
    threshold = json.loads((trained_model_dir / "model.json").read_text())["ood"]["threshold"]
    cat = post(client, cat_png).get_json()
    assert cat["out_of_distribution"] is True and cat["ood_score"] > threshold
    shirt = post(client, clothing).get_json()
    assert shirt["out_of_distribution"] is False and shirt["ood_score"] <= threshold
    both = client.post("/predict", data={"image": [(_file(cat_png), "cat.png"), (_file(clothing), "c.png")]})
    assert [p["out_of_distribution"] for p in both.get_json()["predictions"]] == [True, False]


def test_reject_setting_answers_422_json_for_an_ood_image_only(trained_model_dir, cat_png, clothing):
    client = serving_app(MODEL_DIR=trained_model_dir, REJECT_OUT_OF_DISTRIBUTION="1").test_client()
    response = post(client, cat_png)
    assert response.status_code == 422 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "out_of_distribution" and "does not look like clothing" in error["message"]
    assert post(client, clothing).status_code == 200
    batch = client.post("/predict", data={"image": [(_file(clothing), "c.png"), (_file(cat_png), "cat.png")]})
    assert batch.status_code == 422 and "image 1 does not" in batch.get_json()["error"]["message"]


def test_v2_outputs_the_score_and_the_flag(client, test_images):
    from app.routes.v2 import OUTPUTS

    noise = np.random.default_rng(0).random((1, 28, 28))
    data = np.concatenate([test_images[:1] / 255.0, noise]).astype(np.float32)
    body = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [2, 28, 28], "data": data.ravel().tolist()}]}
    outputs = {o["name"]: o for o in client.post(INFER, json=body).get_json()["outputs"]}
    assert set(outputs) == set(OUTPUTS)
    assert outputs["ood_score"]["datatype"] == "FP32" and outputs["out_of_distribution"]["datatype"] == "BOOL"
    assert outputs["out_of_distribution"]["data"][1] is True and outputs["ood_score"]["data"][1] > 10
    only = client.post(INFER, json={**body, "outputs": [{"name": "out_of_distribution"}]}).get_json()["outputs"]
    assert [o["name"] for o in only] == ["out_of_distribution"]


def test_metrics_histograms_and_flagged_counter(client, cat_png, clothing):
    def scrape():
        return samples(client.get("/metrics").get_data(as_text=True))

    before = scrape()
    post(client, cat_png)
    post(client, clothing)
    after = scrape()
    for name in ("prediction_ood_score_count", "prediction_confidence_count"):
        assert value(after, name) - value(before, name) == 2
    assert value(after, "prediction_ood_score_bucket", le="+Inf") - value(before, "prediction_ood_score_bucket", le="+Inf") == 2
    # docs/metrics.md: no _sum for a histogram whose buckets go below 0 (prometheus_client leaves it out)
    assert "prediction_ood_score_sum" not in client.get("/metrics").get_data(as_text=True)
    flagged = value(after, "out_of_distribution_total", route="/predict") - value(
        before, "out_of_distribution_total", route="/predict")
    assert flagged == 1


def test_drift_histograms_keep_python_floats(client, cat_png):
    """A numpy float32 observed once turns a histogram's running sum into numpy arithmetic for the
    worker's life, measurably dearer per request: both routes observe Python floats. (The ood
    histogram's sum is not exposed, its buckets going below 0, so its value is read directly.)"""
    from app import metrics

    body = {"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": [0.5] * 784}]}
    for send in (lambda: post(client, cat_png), lambda: client.post(INFER, json=body)):
        assert send().status_code == 200
        for histogram in (metrics.OOD_SCORE, metrics.CONFIDENCE):
            assert type(histogram._sum.get()) is float, histogram


def test_metadata_shows_both_blocks(client):
    body = client.get("/v1/models/fashion-mnist").get_json()
    assert body["calibration"]["method"] == "temperature-scaling" and "threshold" in body["ood"]


@pytest.fixture(scope="module")
def old_model_dir(trained_model_dir, tmp_path_factory):
    """The trained model as a run before the detector would have written it: model.onnx with the
    plain softmax only, model.pt without temperature or detector, model.json without the blocks."""
    from inference.nets import build_sequential
    from training.export import export_onnx, save_checkpoint

    folder = tmp_path_factory.mktemp("old-model")
    for name in ("model.json",):
        shutil.copy(trained_model_dir / name, folder / name)
    checkpoint = torch.load(trained_model_dir / "model.pt", weights_only=True)
    net = build_sequential(checkpoint["arch"]["layers"])
    net.load_state_dict(checkpoint["state_dict"])
    export_onnx(net, folder / "model.onnx")
    save_checkpoint(folder / "model.pt", net, checkpoint["arch"], checkpoint["classes"], {}, {})
    card = json.loads((folder / "model.json").read_text())
    del card["calibration"], card["ood"], card["explain"]  # explain.onnx came later too
    card["sha256"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                      for name in ("model.onnx", "model.pt")}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.mark.slow  # exports a model
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_an_old_artifact_serves_with_the_fields_null(old_model_dir, cat_png, backend):
    client = serving_app(MODEL_DIR=old_model_dir, MODEL_BACKEND=backend,
                         REJECT_OUT_OF_DISTRIBUTION="1").test_client()
    response = post(client, cat_png)
    assert response.status_code == 200  # nothing to reject on
    body = response.get_json()
    assert body["ood_score"] is None and body["out_of_distribution"] is None
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-5
    outputs = client.get("/v2/models/fashion-mnist").get_json()["outputs"]
    assert [o["name"] for o in outputs] == ["probabilities", "class_index", "label"]
    asked = client.post(INFER, json={"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 784],
                                                 "data": [0.0] * 784}], "outputs": [{"name": "ood_score"}]})
    assert asked.status_code == 400 and "ood_score" in asked.get_json()["error"]


def test_scorer_rows_carry_the_columns(trained_model_dir, test_images):
    from inference.predictor import Predictor
    from scorer.csv_writer import CsvWriter
    from scorer.run import LocalModel, finish
    from scorer.sources import Batch

    model = LocalModel(Predictor.load(trained_model_dir, device="cpu"))
    pixels = np.concatenate([test_images[:2] / np.float32(255), np.random.default_rng(0).random((1, 28, 28), np.float32)])
    batch = Batch(["x"] * 3, [0, 1, 2], [None] * 3, pixels=pixels, errors=[None] * 3)
    writer = CsvWriter(model.classes)
    lines = [writer.header().strip(), *finish(batch, model, model.infer(batch), writer.format).text.splitlines()]
    rows = list(csv.DictReader(lines))
    assert all(row["ood_score"] != "" for row in rows) and rows[2]["out_of_distribution"] == "True"


def _file(data: bytes):
    return io.BytesIO(data)
