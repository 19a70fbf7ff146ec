"""Every field of every JSON body, given every other type (null, number, string, boolean, list,
object) or left out: a JSON 4xx (a 200 only where the schema takes that type too), never a 5xx; and when the body breaks its schema, a 400 whose
message names the field (app/validation.py). The bodies are valid ones of /predict (both forms) and
v2 infer (JSON and binary data), each answered 200 as sent."""
from __future__ import annotations

import base64
import copy
import json

import numpy as np
import pytest

from app.validation import problem
from tests.conftest import png_bytes, serving_app

WRONG = (None, 7, 2.5, "x", True, [], [1, "a"], {}, {"k": 1})
V2 = "/v2/models/fashion-mnist/infer"
PNG = base64.b64encode(png_bytes(np.zeros((28, 28), np.uint8))).decode()
V2_BODY = {"id": "r1", "parameters": {"binary_data_output": False},
           "inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784,
                       "parameters": {"note": "x"}}],
           "outputs": [{"name": "label", "parameters": {"binary_data": False}}]}
V2_BINARY_HEADER = {"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28],
                                "parameters": {"binary_data_size": 784}}],
                    "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}
BODIES = {
    "predict image": ("/predict", "PredictJson", {"image": [0] * 784}, None),
    "predict images": ("/predict", "PredictJson", {"images": [PNG, [[0] * 28] * 28]}, None),
    "v2 json": (V2, "InferenceRequest", V2_BODY, None),
    "v2 binary": (V2, "InferenceRequest", V2_BINARY_HEADER, bytes(784)),
}


def field_paths(value, path=()):
    """Every field's path: object members, and the first element of each list (the rest alike)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*path, key)
            yield from field_paths(inner, (*path, key))
    elif isinstance(value, list) and value:
        yield (*path, 0)
        yield from field_paths(value[0], (*path, 0))


def rendered(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def changed(body, path, value=None, drop=False):
    body = copy.deepcopy(body)
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


def same_json_type(a, b) -> bool:
    def kind(v):
        return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v)
    return kind(a) == kind(b)


@pytest.fixture(scope="module")
def client(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir).test_client()


def post(client, path, body, binary):
    if binary is None:
        return client.post(path, json=body)
    header = json.dumps(body).encode()
    return client.post(path, data=header + binary, content_type="application/octet-stream",
                       headers={"Inference-Header-Content-Length": str(len(header))})


def check(response, path, schema, body, field):
    """A JSON 4xx for a value of a type the field does not take; one it takes too (a parameter may be
    a string, number or boolean) may also be served."""
    broken = problem(schema, body) is not None
    assert response.status_code < 500, (path, body, response.get_data(as_text=True)[:300])
    document = response.get_json()
    assert document is not None
    if response.status_code == 200:
        assert not broken
        return
    assert 400 <= response.status_code < 500 and "error" in document
    if broken:
        assert response.status_code == 400
        message = document["error"] if isinstance(document["error"], str) else document["error"]["message"]
        named = rendered(field)
        # The field itself, or (for a value that no alternative takes) the element inside it.
        assert named in message or "the body" in message, (named, message)


@pytest.mark.parametrize("name", BODIES)
def test_each_body_as_sent_is_served(client, name):
    path, _, body, binary = BODIES[name]
    assert post(client, path, body, binary).status_code == 200


@pytest.mark.parametrize("name", BODIES)
def test_every_field_of_the_wrong_type_is_a_json_4xx(client, name):
    path, schema, body, binary = BODIES[name]
    sent = 0
    for field in field_paths(body):
        original = _at(body, field)
        for wrong in WRONG:
            if same_json_type(wrong, original):
                continue
            confused = changed(body, field, wrong)
            check(post(client, path, confused, binary), path, schema, confused, field)
            sent += 1
        dropped = changed(body, field, drop=True)
        response = post(client, path, dropped, binary)
        assert response.status_code < 500 and response.get_json() is not None
    assert sent >= 5 * len(list(field_paths(body)))


def test_the_whole_body_of_the_wrong_type_is_a_400(client):
    for path, schema, _, _ in BODIES.values():
        for wrong in WRONG:
            response = client.post(path, data=json.dumps(wrong), content_type="application/json")
            assert response.status_code == 400, (path, wrong)
            assert response.get_json() is not None


def _at(body, path):
    for part in path:
        body = body[part]
    return body


@pytest.mark.parametrize("path,body", [
    ("/predict", '{"image": ' + "[" * 950 + "0" + "]" * 950 + "}"),
    ("/predict", '{"images": [' + "[" * 950 + "0" + "]" * 950 + "]}"),
    (V2, '{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": [0], "parameters": {"x": '
     + "[" * 950 + "0" + "]" * 950 + "}}]}"),
    (V2, '{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": ' + "[" * 950 + "0" + "]" * 950
     + "}]}"),
])
def test_arrays_nested_hundreds_deep_are_a_400(client, path, body):
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json() is not None
