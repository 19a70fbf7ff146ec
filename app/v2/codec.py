"""Tensors of the Open Inference Protocol (KServe v2 / Triton HTTP) as numpy arrays.

`read_request` parses an inference request body: the JSON object alone, or (binary tensor data
extension) the JSON object followed by the tensors' bytes, its length in the
Inference-Header-Content-Length header. `write_response` builds the answer the same way. Nothing here
knows the model: app/v2/inputs.py turns the input tensor into images.

Every client mistake is an InputError(400) whose message says what to fix.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from app.validation import problem
from inference.errors import InputError

HEADER_LENGTH = "Inference-Header-Content-Length"
# The protocol's datatypes and their little-endian numpy types; BYTES elements are byte strings.
DTYPES = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_LENGTH = struct.Struct("<I")  # a BYTES element's 4-byte length prefix


@dataclass
class Tensor:
    """An input tensor: `data` has `shape` (numeric) or is a flat object array of bytes (BYTES).
    `binary` says whether it came as binary data (BYTES in JSON are text, not raw bytes)."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    binary: bool


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    # Requested output names and whether each goes back as binary data; None: all, as `binary_output`.
    outputs: dict[str, bool] | None
    binary_output: bool = False
    parameters: dict = field(default_factory=dict)


def read_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse an inference request; `header_length` is the Inference-Header-Content-Length value."""
    if header_length is None:
        header, binary = body, b""
    else:
        length = _header_length(header_length, len(body))
        header, binary = body[:length], body[length:]
    payload = _json_object(header)
    # The schema of app/openapi.py: every field's type, the input's name and datatype, the outputs'
    # names. What follows checks what a schema cannot: sizes, counts and values against each other.
    found = problem("InferenceRequest", payload)
    if found is not None:
        raise invalid_request(found)
    parameters = payload.get("parameters") or {}
    binary_output = parameters.get("binary_data_output", False)
    tensors, offset = [], 0
    for item in payload["inputs"]:
        tensor, offset = _read_input(item, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise invalid_request(f"the body has {len(binary)} bytes of binary data after the JSON header, but the inputs' "
                     f"binary_data_size add up to {offset}")
    return InferRequest(payload.get("id"), tensors, _requested_outputs(payload.get("outputs"), binary_output),
                        binary_output, parameters)


def write_response(header: dict, outputs: list[tuple[str, str, np.ndarray, bool]]) -> tuple[bytes, int | None]:
    """The response body for `header` (model_name, id, ...) and outputs (name, datatype, array, binary),
    and the JSON header's length when any output went as binary data (else None)."""
    tensors, chunks = [], []
    for name, datatype, array, binary in outputs:
        tensor = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            chunk = _to_bytes(datatype, array)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = _to_json(datatype, array)
        tensors.append(tensor)
    text = json.dumps({**header, "outputs": tensors}, separators=(",", ":")).encode()
    if not chunks:
        return text, None
    return b"".join([text, *chunks]), len(text)


def _header_length(value: str, body_length: int) -> int:
    if not (value.isascii() and value.isdigit()):  # str.isdigit alone passes "²", which int() refuses
        raise invalid_request(f"{HEADER_LENGTH} must be a byte count, not {value!r}")
    length = int(value)
    if length == 0:
        raise invalid_request(f"{HEADER_LENGTH}: 0 (a raw binary request without a JSON header) is not supported; "
                     "send the JSON inference header before the binary data")
    if length > body_length:
        raise invalid_request(f"{HEADER_LENGTH} is {length}, but the body has only {body_length} bytes")
    return length


def _json_object(text: bytes) -> dict:
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"the inference header is not valid JSON: {exc}")
    except RecursionError:
        raise invalid_request("the inference header is not valid JSON: nested too deeply")
    if not isinstance(payload, dict):
        raise invalid_request("the inference header must be a JSON object")
    return payload


def _read_input(item: dict, binary: bytes, offset: int) -> tuple[Tensor, int]:
    """One input tensor (its fields' types already checked); binary data is read from `binary` at `offset`."""
    name, datatype = item["name"], item["datatype"]
    where = f"input {name!r}"
    if datatype not in DTYPES:
        raise invalid_request(f"{where}: 'datatype' must be one of {', '.join(DTYPES)}, not {datatype!r}")
    shape = [int(d) for d in item["shape"]]  # JSON Schema's integers include 2.0
    count = math.prod(shape)
    size = (item.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        size = int(size)
        if "data" in item:
            raise invalid_request(f"{where} has both 'data' and the parameter 'binary_data_size'; send one")
        if offset + size > len(binary):
            raise invalid_request(f"{where}: binary_data_size {size} runs past the end of the body "
                         f"({len(binary) - offset} bytes of binary data left)")
        data = _from_bytes(datatype, binary[offset:offset + size], count, where)
        offset += size
    elif "data" in item:
        data = _from_json(datatype, item["data"], count, where)
    else:
        raise invalid_request(f"{where} has no 'data' and no 'binary_data_size' parameter")
    if datatype != "BYTES":
        data = data.reshape(shape)
    return Tensor(name, datatype, shape, data, size is not None), offset


def _from_bytes(datatype: str, chunk: bytes, count: int, where: str) -> np.ndarray:
    if datatype == "BYTES":
        elements, position = [], 0
        while position < len(chunk):
            if position + _LENGTH.size > len(chunk):
                raise invalid_request(f"{where}: BYTES data ends inside an element's 4-byte length")
            (length,) = _LENGTH.unpack_from(chunk, position)
            position += _LENGTH.size
            if position + length > len(chunk):
                raise invalid_request(f"{where}: a BYTES element of {length} bytes runs past its binary_data_size")
            elements.append(chunk[position:position + length])
            position += length
        return _counted(np.array(elements, dtype=object), count, where)
    dtype = DTYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise invalid_request(f"{where}: binary_data_size is {len(chunk)} bytes, but its shape holds {count} "
                     f"{datatype} elements of {dtype.itemsize} bytes ({count * dtype.itemsize} bytes)")
    return np.frombuffer(chunk, dtype=dtype)


def _from_json(datatype: str, data, count: int, where: str) -> np.ndarray:
    flat = _flatten(data if isinstance(data, list) else [data], where)
    _counted(flat, count, where)
    if datatype == "BYTES":
        if not all(isinstance(x, str) for x in flat):
            raise invalid_request(f"{where}: BYTES data must be strings")
        return np.array([x.encode() for x in flat], dtype=object)
    dtype = DTYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(x, bool) for x in flat):
            raise invalid_request(f"{where}: BOOL data must be true or false")
        return np.array(flat, dtype=dtype)
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
        raise invalid_request(f"{where}: {datatype} data must be numbers")
    if dtype.kind in "iu":
        if not all(isinstance(x, int) for x in flat):
            raise invalid_request(f"{where}: {datatype} data must be integers")
        limits = np.iinfo(dtype)
        if flat and (min(flat) < limits.min or max(flat) > limits.max):
            raise invalid_request(f"{where}: {datatype} values must lie in {limits.min}..{limits.max}")
    try:
        return np.array(flat, dtype=dtype)
    except OverflowError:  # an integer too large for any float
        raise invalid_request(f"{where}: a value is too large for {datatype}")


def _flatten(data: list, where: str) -> list:
    """Row-major elements of a flat or nested JSON array (the protocol allows both)."""
    flat, stack = [], [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            if isinstance(value, dict) or value is None:
                raise invalid_request(f"{where}: 'data' holds {type(value).__name__ if value is not None else 'null'}, "
                             "not tensor elements")
            flat.append(value)
        else:
            stack.pop()
    return flat


def _counted(data, count: int, where: str):
    if len(data) != count:
        raise invalid_request(f"{where}: 'data' has {len(data)} elements, but its shape holds {count}")
    return data


def _requested_outputs(outputs: list[dict] | None, binary_output: bool) -> dict[str, bool] | None:
    if outputs is None:
        return None
    requested = {}
    for item in outputs:
        name = item["name"]
        if name in requested:
            raise invalid_request(f"output {name!r} is requested twice")
        requested[name] = (item.get("parameters") or {}).get("binary_data", binary_output)
    return requested


def _to_bytes(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(x)) + x for x in array.ravel().tolist())
    return np.ascontiguousarray(array, dtype=DTYPES[datatype]).tobytes()


def _to_json(datatype: str, array: np.ndarray) -> list:
    if datatype == "BYTES":
        return [x.decode("utf-8", "replace") for x in array.ravel().tolist()]
    return array.ravel().tolist()


def invalid_request(message: str) -> InputError:
    """The protocol's client error: a 400 whose message says what to fix."""
    return InputError(400, "invalid_inference_request", message)
