"""The OpenAPI 3.1 document of every route: the API's source of truth, served at GET /openapi.json.

A change to a route's inputs, answers or status codes goes here too; tests/app/test_openapi.py checks
the document against openapi-spec-validator, and tests/integration/test_openapi_fuzz.py checks the
running service against the document with schemathesis.
"""
from __future__ import annotations

from functools import cache

from inference.decode import SIZE

# Headers app/access.py puts on every answer (X-Model-Version once a model is loaded).
_HEADERS = {
    "X-Request-ID": {"description": "The client's X-Request-ID when short and plain, else a new id; "
                                    "also in the access log line.", "schema": {"type": "string"}},
    "X-Model-Version": {"description": "The served model's identity: the first 12 hex digits of the "
                                       "sha256 of model.onnx (model.json's `version`).",
                        "schema": {"type": "string"}},
}
_ERROR_TEXT = {
    400: "Not a readable image, invalid JSON or base64.",
    404: "Unknown path.",
    413: "The body is over MAX_UPLOAD_MB, more images than MAX_BATCH, or an image over 50 megapixels.",
    415: "Unsupported content type.",
    422: "Well-formed but wrong: missing field, wrong shape, pixel values out of range.",
    503: "The model is not loaded yet.",
}
_V2_ERROR_TEXT = {
    400: "A bad inference request: invalid JSON, an unknown input or output name, a wrong datatype, "
         "shape or element count, binary sizes that do not add up, an unreadable image.",
    404: "Unknown model or version.",
    413: "The body is over MAX_UPLOAD_MB, the batch over MAX_BATCH, or an image over 50 megapixels.",
    503: "The model is not loaded yet.",
}
_NAME = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string", "enum": ["fashion-mnist"]},
         "description": "The model's name (any other is a 404)."}
_VERSION = {"name": "model_version", "in": "path", "required": True,
            "schema": {"type": "string", "examples": ["1"]},
            "description": "A version from the model metadata's `versions` (a plain MODEL_DIR serves `1`); "
                           "any other is a 404."}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, content: dict | None = None, headers: dict | None = None) -> dict:
    answer = {"description": description, "headers": {name: {"$ref": f"#/components/headers/{name}"}
                                                      for name in _HEADERS}}
    answer["headers"].update(headers or {})
    if content is not None:
        answer["content"] = content
    return answer


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int, v2: bool = False) -> dict:
    texts, schema = (_V2_ERROR_TEXT, _ref("ErrorV2")) if v2 else (_ERROR_TEXT, _ref("Error"))
    return {str(status): _answer(texts[status], _json(schema)) for status in statuses}


def _get(summary: str, ok: dict, *errors: int, v2: bool = False, tags: list[str], **extra) -> dict:
    return {"get": {"summary": summary, "tags": tags, **extra,
                    "responses": {"200": ok, **_errors(*errors, v2=v2)}}}


def _v2_model_paths(suffix: str, operation) -> dict:
    """The same operation with and without /versions/{model_version}, as the protocol has it."""
    return {f"/v2/models/{{model_name}}{suffix}": operation([_NAME]),
            f"/v2/models/{{model_name}}/versions/{{model_version}}{suffix}": operation([_NAME, _VERSION])}


def _infer(parameters: list[dict]) -> dict:
    binary = {"Inference-Header-Content-Length": {
        "description": "Length of the JSON header at the start of a body that carries binary data.",
        "schema": {"type": "integer", "minimum": 1}}}
    return {"post": {
        "summary": "Inference (KServe v2), with JSON tensor data or the binary tensor data extension",
        "tags": ["Open Inference Protocol (v2)"],
        "parameters": [*parameters, {
            "name": "Inference-Header-Content-Length", "in": "header", "required": False,
            "schema": {"type": "integer", "minimum": 1},
            "description": "With binary data: the length of the JSON header that starts the body; the "
                           "tensors' bytes follow it, in input order, each `binary_data_size` long."}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("InferenceRequest")},
            "application/octet-stream": {"schema": {
                "type": "string", "contentMediaType": "application/octet-stream",
                "description": "The InferenceRequest JSON, then the binary tensor data."}},
        }},
        "responses": {
            "200": _answer("The outputs; with binary outputs, the JSON header then their bytes.", {
                "application/json": {"schema": _ref("InferenceResponse")},
                "application/octet-stream": {"schema": {
                    "type": "string", "contentMediaType": "application/octet-stream",
                    "description": "The InferenceResponse JSON (Inference-Header-Content-Length bytes), "
                                   "then the binary outputs."}},
            }, headers=binary),
            **_errors(400, 404, 413, 503, v2=True),
        },
    }}


def _schemas() -> dict:
    def pixel_arrays(value: dict) -> list[dict]:
        return [{"type": "array", "items": value, "minItems": SIZE * SIZE, "maxItems": SIZE * SIZE},
                {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                 "items": {"type": "array", "items": value, "minItems": SIZE, "maxItems": SIZE}}]

    pixels = {"description": f"{SIZE}x{SIZE} nested or {SIZE * SIZE} flat pixel values, light object on "
                             "dark: integers on the 0..255 scale, or (when any value is a float) all in [0, 1].",
              "anyOf": [*pixel_arrays({"type": "integer", "minimum": 0, "maximum": 255}),
                        *pixel_arrays({"type": "number", "minimum": 0, "maximum": 1})]}
    image = {"oneOf": [{"type": "string", "description": "Base64 of an image file (a data: URL is fine)."},
                       pixels]}
    parameters = {"type": "object", "description": "Name/value pairs.",
                  "additionalProperties": {"type": ["string", "number", "boolean"]}}
    tensor_meta = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}}}
    shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "ErrorV2": {"type": "object", "required": ["error"], "description": "The Open Inference Protocol's error.",
                    "properties": {"error": {"type": "string"}}},
        "Prediction": {"type": "object", "required": ["label", "class_index", "confidence", "probabilities"],
                       "properties": {
                           "label": {"type": "string"}, "class_index": {"type": "integer", "minimum": 0},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                           "probabilities": {"type": "object", "description": "Class name -> probability, "
                                             "in class-index order.",
                                             "additionalProperties": {"type": "number"}},
                           "ood_score": {"type": ["number", "null"],
                                         "description": "Out-of-distribution score: higher means less like "
                                                        "Fashion-MNIST (about 0 for clothing). null for a model "
                                                        "trained without the detector."},
                           "out_of_distribution": {"type": ["boolean", "null"],
                                                   "description": "ood_score above the model's threshold "
                                                                  "(model.json ood.threshold): the image does not "
                                                                  "look like clothing. null without the detector."},
                           "model_version": {"type": "string"},
                           "input_png": {"type": "string", "contentEncoding": "base64",
                                         "contentMediaType": "image/png",
                                         "description": "With `return_input=png`: a 28x28 8-bit grayscale PNG "
                                                        "of the model's input (value x 255, rounded)."},
                           "input_pixels": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                            "description": "With `return_input=pixels`: the model's float32 "
                                                           "input in [0, 1], row by row.",
                                            "items": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                                      "items": {"type": "number", "minimum": 0, "maximum": 1}}}}},
        "Predictions": {"type": "object", "required": ["predictions", "model_version"], "properties": {
            "predictions": {"type": "array", "items": _ref("Prediction")}, "model_version": {"type": "string"}}},
        "PredictJson": {"type": "object", "description": "Exactly one of `image` (one answer object) or "
                                                         "`images` (`{\"predictions\": [...]}`).",
                        "properties": {"image": image, "images": {"type": "array", "minItems": 1, "items": image}},
                        "oneOf": [{"required": ["image"]}, {"required": ["images"]}]},
        "Parameters": parameters,
        "MetadataTensor": tensor_meta,
        "RequestInput": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
            "name": {"const": "image"},
            "shape": {**shape, "maxItems": 32},
            "datatype": {"enum": ["FP32", "UINT8", "BYTES"],
                         "description": "`FP32` ([N,1,28,28], [N,28,28] or [N,784] in [0, 1]), `UINT8` (same "
                                        "shapes, 0..255) or `BYTES` ([N] or [N,1] image files: base64 text in "
                                        "JSON, raw as binary data)."},
            "parameters": parameters,
            "data": {"type": "array", "description": "Row-major elements, flat or nested; absent when the "
                                                     "parameter `binary_data_size` gives binary data."}}},
        "RequestOutput": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "enum": ["probabilities", "class_index", "label"]},
            "parameters": parameters}},
        "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string", "description": "Echoed in the response."},
            "parameters": parameters,
            "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": _ref("RequestInput")},
            "outputs": {"type": "array", "items": _ref("RequestOutput"),
                        "description": "Which outputs, and `binary_data` per output; default all."}}},
        "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "parameters": parameters,
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name", "shape", "datatype"], "properties": {
                    "name": {"type": "string"}, "shape": shape, "datatype": {"type": "string"},
                    "parameters": parameters, "data": {"type": "array"}}}}}},
    }


@cache
def document() -> dict:
    """The OpenAPI document (built once; callers must not change it)."""
    ours, v2, docs = ["Fashion-MNIST API"], ["Open Inference Protocol (v2)"], ["Documentation"]
    multipart = {"schema": {"type": "object", "required": ["image"], "properties": {"image": {
        "type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        "description": "One or more image files (field repeated)."}}}}
    raw_image = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
    text = {"text/plain": {"schema": {"type": "string"}}}
    open_object = {"type": "object"}
    paths = {
        "/predict": {"post": {
            "summary": "Classify one or more images", "tags": ours,
            "description": "Any size or mode is converted to grayscale, fitted to 28x28 and inverted when the "
                           "background is light (INVERT). One image gives one prediction object; several "
                           "give `{\"predictions\": [...]}`.",
            "parameters": [{
                "name": "return_input", "in": "query", "required": False,
                "description": "Also return, in each prediction object, the preprocessed 28x28 input the model "
                               "received: `png` (`input_png`), `pixels` (`input_pixels`) or `png,pixels`.",
                "schema": {"type": "string", "pattern": r"^\s*(png|pixels)\s*(,\s*(png|pixels)\s*)?$"}}],
            "requestBody": {"required": True, "content": {
                "multipart/form-data": multipart, "image/*": raw_image, "application/octet-stream": raw_image,
                "application/json": {"schema": _ref("PredictJson")}}},
            "responses": {"200": _answer("The prediction(s).", _json(
                {"oneOf": [_ref("Prediction"), _ref("Predictions")]})),
                **_errors(400, 413, 415, 422, 503)},
        }},
        "/": _get("The page for people: upload, paste or draw images, see the answers and the 28x28 input "
                  "the model saw (docs/page.md)", _answer("HTML page.", {"text/html": {"schema": {"type": "string"}}}),
                  tags=docs),
        "/page/{filename}": _get("The page's own scripts, styles and icon", _answer(
            "The file.", {"*/*": {"schema": {"type": "string"}}}), 404, tags=docs, parameters=[{
                "name": "filename", "in": "path", "required": True, "example": "page.js",
                "schema": {"type": "string"}}]),
        "/healthz": _get("Liveness", _answer("The process lives.", _json(
            {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}})), tags=ours),
        "/readyz": _get("Readiness", _answer("The model is loaded and warmed up.", _json(
            {"type": "object", "required": ["status", "model_version", "backend", "device"], "properties": {
                "status": {"const": "ready"}, "model_version": {"type": "string"},
                "backend": {"type": "string"}, "device": {"type": "string"}}})), 503, tags=ours),
        "/v1/models/fashion-mnist": _get("Model metadata (model.json, plus backend and device)", _answer(
            "model.json as training wrote it.", _json({**open_object, "required": ["name", "version", "classes"]})),
            503, tags=ours),
        "/metrics": _get("Prometheus metrics, summed over the workers", _answer("Prometheus text.", text), tags=ours),
        "/openapi.json": _get("This document", _answer("OpenAPI 3.1.", _json(open_object)), tags=docs),
        "/docs": {"get": {"summary": "Redirect to /docs/", "tags": docs, "responses": {"308": _answer(
            "Permanent redirect.", headers={"Location": {"schema": {"type": "string"}}})}}},
        "/docs/": _get("This document, shown by Swagger UI (served by the service, no CDN)",
                       _answer("HTML page.", {"text/html": {"schema": {"type": "string"}}}), tags=docs),
        "/v2": _get("Server metadata", _answer("Name, version, extensions.", _json(
            {"type": "object", "required": ["name", "version", "extensions"], "properties": {
                "name": {"type": "string"}, "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}}}})), v2=True, tags=v2),
        "/v2/health/live": _get("Server live", _answer("The process lives.", _json(
            {"type": "object", "required": ["live"], "properties": {"live": {"const": True}}})), v2=True, tags=v2),
        "/v2/health/ready": _get("Server ready", _answer("The model is ready.", _json(
            {"type": "object", "required": ["ready"], "properties": {"ready": {"const": True}}})),
            503, v2=True, tags=v2),
        **_v2_model_paths("", lambda parameters: _get(
            "Model metadata", _answer("Name, versions, platform, inputs and outputs; `parameters.sha_version` "
                                      "is model.json's version.", _json(
                {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {
                    "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
                    "platform": {"type": "string"}, "inputs": {"type": "array", "items": _ref("MetadataTensor")},
                    "outputs": {"type": "array", "items": _ref("MetadataTensor")},
                    "parameters": _ref("Parameters")}})),
            404, 503, v2=True, tags=v2, parameters=parameters)),
        **_v2_model_paths("/ready", lambda parameters: _get(
            "Model ready", _answer("The model is ready.", _json(
                {"type": "object", "required": ["name", "ready"], "properties": {
                    "name": {"type": "string"}, "ready": {"const": True}}})),
            404, 503, v2=True, tags=v2, parameters=parameters)),
        **_v2_model_paths("/infer", _infer),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fashion-MNIST serving", "version": "1",
                 "description": "Our own JSON API (`/predict`, errors `{\"error\": {\"code\", \"message\"}}`) and "
                                "the Open Inference Protocol (KServe v2 / Triton HTTP) under `/v2` (errors "
                                "`{\"error\": \"message\"}`). Unknown paths answer 404 and known paths 405 for "
                                "other methods, in the error form of their prefix. docs/v2-protocol.md has "
                                "examples."},
        "paths": paths,
        "components": {"schemas": _schemas(), "headers": _HEADERS},
    }
