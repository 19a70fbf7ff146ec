"""The v2 tensor codec against NVIDIA's own client code: tritonclient builds request bodies (JSON and
binary) and parses our response bodies, without a server."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from inference.errors import InputError
from app.v2.codec import read_request, write_response


def body_of(*inputs: triton.InferInput, outputs=None, request_id: str = "") -> tuple[bytes, str | None]:
    body, json_size = triton.InferenceServerClient.generate_request_body(list(inputs), outputs, request_id)
    return body, None if json_size is None else str(json_size)


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("datatype, array", [
    ("FP32", np.linspace(0, 1, 2 * 784, dtype=np.float32).reshape(2, 1, 28, 28)),
    ("UINT8", np.arange(3 * 784, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)),
    ("INT64", np.array([[-(2 ** 62), 7]], dtype=np.int64)),
    ("BOOL", np.array([True, False, True])),
])
def test_numeric_tensors_arrive_exactly(datatype, array, binary):
    request = read_request(*body_of(tensor("x", array, datatype, binary)))
    (got,) = request.inputs
    assert (got.name, got.datatype, got.shape, got.binary) == ("x", datatype, list(array.shape), binary)
    assert got.data.dtype == array.dtype and np.array_equal(got.data, array)


def test_bytes_tensors_arrive_exactly_as_binary_data():
    files = np.array([b"\x89PNG\r\n\x1a\n\x00\xff", b"", b"plain"], dtype=object)
    (got,) = read_request(*body_of(tensor("image", files, "BYTES", True))).inputs
    assert got.data.tolist() == files.tolist() and got.binary


def test_bytes_in_json_are_text():
    texts = np.array([b"aGVsbG8=", b"d29ybGQ="], dtype=object)
    (got,) = read_request(*body_of(tensor("image", texts, "BYTES", False))).inputs
    assert got.data.tolist() == texts.tolist() and not got.binary


def test_two_binary_inputs_take_their_own_bytes_in_order():
    first, second = np.arange(4, dtype=np.float32), np.arange(3, dtype=np.uint8)
    request = read_request(*body_of(tensor("a", first, "FP32", True), tensor("b", second, "UINT8", True)))
    assert np.array_equal(request.inputs[0].data, first) and np.array_equal(request.inputs[1].data, second)


def test_id_outputs_and_their_binary_flags():
    outputs = [triton.InferRequestedOutput("label", binary_data=False), triton.InferRequestedOutput("probabilities")]
    request = read_request(*body_of(tensor("x", np.zeros(1, np.float32), "FP32", False), outputs=outputs,
                                    request_id="req-7"))
    assert request.id == "req-7"
    assert request.outputs == {"label": False, "probabilities": True}


def test_without_outputs_binary_data_output_decides():
    assert read_request(*body_of(tensor("x", np.zeros(1, np.float32), "FP32", True))).binary_output
    assert read_request(*body_of(tensor("x", np.zeros(1, np.float32), "FP32", True))).outputs is None


def test_nested_json_data_is_read_row_major():
    body = {"inputs": [{"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}]}
    (got,) = read_request(json.dumps(body).encode(), None).inputs
    assert got.data.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("binary", [True, False])
def test_responses_parse_in_tritonclient(binary):
    probabilities = np.random.default_rng(0).random((2, 10), dtype=np.float32)
    labels = np.array([b"Bag", b"Ankle boot"], dtype=object)
    body, header_length = write_response({"model_name": "m", "id": "9"}, [
        ("probabilities", "FP32", probabilities, binary), ("class_index", "INT64", np.array([3, 9]), binary),
        ("label", "BYTES", labels, binary)])
    assert (header_length is not None) == binary
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    assert result.get_response()["id"] == "9"
    assert np.array_equal(result.as_numpy("probabilities"), probabilities)
    assert result.as_numpy("class_index").tolist() == [3, 9]
    # tritonclient gives JSON BYTES as str, binary BYTES as bytes
    assert [x if binary else x.encode() for x in result.as_numpy("label").tolist()] == labels.tolist()


def _json(body: dict) -> tuple[bytes, None]:
    return json.dumps(body).encode(), None


def _binary(header: dict, data: bytes) -> tuple[bytes, str]:
    text = json.dumps(header).encode()
    return text + data, str(len(text))


def _input(**fields) -> dict:
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], **fields}]}


FOUR_FLOATS = np.zeros(4, np.float32).tobytes()


@pytest.mark.parametrize("body, header_length, message", [
    (b"{", None, "not valid JSON"),
    (b"[]", None, "must be a JSON object"),
    (b"{}", None, "the body lacks the field 'inputs'"),
    (*_json({"id": 5, **_input(data=[0, 0])}), "id must be string, not integer"),
    (*_json(_input(data=[0, 0, 0])), "'data' has 3 elements, but its shape holds 2"),
    (*_json(_input(data=["a", "b"])), "FP32 data must be numbers"),
    (*_json(_input(data=[0, None])), "not tensor elements"),
    (*_json(_input()), "has no 'data' and no 'binary_data_size'"),
    (*_json({"inputs": [{"name": "x", "datatype": "FP128", "shape": [1], "data": [0]}]}), "'datatype' must be one of"),
    (*_json({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [0]}]}), "inputs[0].shape[0] must be at least 0"),
    (*_json({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [256]}]}), "must lie in 0..255"),
    (*_json({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [1.5]}]}), "must be integers"),
    (*_json({**_input(data=[0, 0]), "outputs": [{"name": "a"}, {"name": "a"}]}), "requested twice"),
    (*_json({**_input(data=[0, 0]), "parameters": {"binary_data_output": "yes"}}), "parameters.binary_data_output must be boolean, not string"),
    (*_binary(_input(parameters={"binary_data_size": 20}), FOUR_FLOATS), "runs past the end"),
    (*_binary(_input(parameters={"binary_data_size": 12}), FOUR_FLOATS[:12]),
     "holds 2 FP32 elements of 4 bytes (8 bytes)"),
    (*_binary(_input(parameters={"binary_data_size": 8}), FOUR_FLOATS),
     "16 bytes of binary data after the JSON header, but the inputs' binary_data_size add up to 8"),
    (*_binary(_input(data=[0, 0], parameters={"binary_data_size": 8}), FOUR_FLOATS[:8]),
     "has both 'data' and the parameter 'binary_data_size'"),
    (b"{}", "x", "must be a byte count"),
    (b"{}", "\u00b2", "must be a byte count"),  # a digit to str.isdigit, not to int(): was a 500
    (*_json({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1] * 70, "data": [0]}]}),
     "inputs[0].shape must have at most 32 items"),  # more than numpy's 64: was a 500
    (b"{}", "0", "raw binary request"),
    (b"{}", "3", "the body has only 2 bytes"),
    (*_binary({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]},
              b"\x09\x00\x00\x00ab"), "runs past its binary_data_size"),
])
def test_bad_requests_are_400_with_a_message_that_says_what(body, header_length, message):
    with pytest.raises(InputError) as raised:
        read_request(body, header_length)
    assert raised.value.status == 400
    assert message in raised.value.message
