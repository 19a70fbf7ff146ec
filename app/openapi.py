"""The OpenAPI 3.1 document of every route: the API's source of truth, served at GET /openapi.json.

A change to a route's inputs, answers or status codes goes here too; tests/app/test_openapi.py checks
the document against openapi-spec-validator, and tests/integration/test_openapi_fuzz.py checks the
running service against the document with schemathesis.
"""
from __future__ import annotations

from functools import cache

from app.auth import OPEN_PATHS, OPEN_PREFIXES
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
    400: "Not a readable image, invalid JSON or base64, or a JSON body that breaks its schema: a field "
         "missing or of the wrong type (the message names the field).",
    404: "Unknown path.",
    413: "The body is over MAX_UPLOAD_MB, more images than MAX_BATCH, or an image over 50 megapixels.",
    415: "Unsupported content type.",
    422: "Well-formed and well-typed but wrong: pixel values of the wrong shape or out of range, a multipart "
         "body without an `image` field; for /explain, a model that cannot explain (`explain_unavailable`: "
         "retrain it).",
    503: "The model is not loaded yet.",
}
_V2_ERROR_TEXT = {
    400: "A bad inference request: invalid JSON, a field of the wrong type (named in the message), an "
         "unknown input or output name, a wrong datatype, "
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


_RETURN_INPUT = {
    "name": "return_input", "in": "query", "required": False,
    "description": "Also return, in each prediction object, the preprocessed 28x28 input the model "
                   "received: `png` (`input_png`), `pixels` (`input_pixels`) or `png,pixels`.",
    "schema": {"type": "string", "pattern": r"^\s*(png|pixels)\s*(,\s*(png|pixels)\s*)?$"}}
_RAW_IMAGE = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
# The input forms of /predict and /explain.
_PREDICT_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {"image": {
        "type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        "description": "One or more image files (field repeated)."}}}},
    "image/*": _RAW_IMAGE, "application/octet-stream": _RAW_IMAGE,
    "application/json": {"schema": {"$ref": "#/components/schemas/PredictJson"}}}}


_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "`Authorization: Bearer <key>`, a key of API_KEYS or API_KEYS_FILE (when set)."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "The same keys, in the `X-API-Key` header."},
}


def _secure(paths: dict) -> None:
    """The open routes (app/auth.py) need no key; every other one may answer 401."""
    for path, item in paths.items():
        for operation in item.values():
            if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
                operation["security"] = []
                continue
            v2 = path.startswith("/v2")
            operation["responses"]["401"] = _answer(
                "With API keys on: no key or a wrong one.", _json(_ref("ErrorV2" if v2 else "Error")),
                headers={"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`."}})


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
    # Types only: the decoder answers a wrong shape or a value out of range with its own 422
    # (invalid_shape, out_of_range), which says more than a schema error would.
    number = {"type": "number"}
    pixels = {"description": f"{SIZE}x{SIZE} nested or {SIZE * SIZE} flat pixel values, light object on dark: "
                             "integers on the 0..255 scale, or (when any value is a float) all in [0, 1]; "
                             "another shape or a value out of range is a 422.",
              "anyOf": [{"type": "array", "items": number, "examples": [[0] * (SIZE * SIZE)]},
                        {"type": "array", "items": {"type": "array", "items": number}}]}
    image = {"description": "Base64 of an image file (a data: URL is fine), or pixel values.",
             "oneOf": [{"type": "string"}, pixels]}
    # binary_data_size, binary_data and binary_data_output are the binary tensor data extension's.
    parameters = {"type": "object", "description": "Name/value pairs.",
                  "properties": {"binary_data_size": {"type": "integer", "minimum": 0},
                                 "binary_data": {"type": "boolean"}, "binary_data_output": {"type": "boolean"}},
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
        "Explanation": {
            "type": "object", "description": "Per-pixel attributions of one class's logit (docs/explain.md).",
            "required": ["class", "class_index", "method", "baseline", "attributions", "logit",
                         "baseline_logit", "convergence_delta"],
            "properties": {
                "class": {"type": "string", "description": "The class explained."},
                "class_index": {"type": "integer", "minimum": 0},
                "method": {"enum": ["exact", "integrated_gradients"],
                           "description": "`exact`: the linear model's `W_c * (x - baseline)`; "
                                          "`integrated_gradients`: Integrated Gradients along the straight "
                                          "path from the baseline, Gauss-Legendre quadrature (Captum's "
                                          "default) with `steps` points."},
                "steps": {"type": ["integer", "null"], "description": "Integrated Gradients' path points; "
                                                                      "null for `exact`."},
                "baseline": {"const": "black", "description": "The reference input: all pixels 0."},
                "attributions": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                 "description": "28 rows of 28 contributions to the logit, over the input as "
                                                "the model saw it (positive: for the class).",
                                 "items": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                           "items": {"type": "number"}}},
                "logit": {"type": "number", "description": "The class's logit at the input."},
                "baseline_logit": {"type": "number", "description": "The class's logit at the baseline."},
                "convergence_delta": {"type": "number", "description": "sum(attributions) - (logit - "
                                      "baseline_logit): rounding (below 1e-5) for `exact`, the quadrature "
                                      "error for `integrated_gradients`."}}},
        "ExplainedPrediction": {"allOf": [_ref("Prediction"), {
            "type": "object", "required": ["explanation"], "properties": {"explanation": _ref("Explanation")}}]},
        "ExplainedPredictions": {"type": "object", "required": ["predictions", "model_version"], "properties": {
            "predictions": {"type": "array", "items": _ref("ExplainedPrediction")},
            "model_version": {"type": "string"}}},
        "Templates": {"type": "object", "required": ["model_version", "method", "scale", "templates"],
                      "properties": {
                          "model_version": {"type": "string"}, "method": {"const": "linear weights"},
                          "scale": {"type": "number", "description": "The largest |weight|: the colour "
                                                                     "scale of templates.png."},
                          "templates": {"type": "array", "items": {
                              "type": "object", "required": ["class", "class_index", "bias", "weights"],
                              "properties": {
                                  "class": {"type": "string"}, "class_index": {"type": "integer", "minimum": 0},
                                  "bias": {"type": "number"},
                                  "weights": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                              "description": "W_c as 28 rows of 28 weights.",
                                              "items": {"type": "array", "minItems": SIZE, "maxItems": SIZE,
                                                        "items": {"type": "number"}}}}}}}},
        "PredictJson": {"type": "object", "description": "Exactly one of `image` (one answer object) or "
                                                         "`images` (`{\"predictions\": [...]}`); a field of "
                                                         "the wrong type is a 400 naming it.",
                        "properties": {"image": image, "images": {"type": "array", "minItems": 1, "items": image}},
                        "oneOf": [{"required": ["image"]}, {"required": ["images"]}]},
        "Parameters": parameters,
        "MetadataTensor": tensor_meta,
        # The protocol's types here; this model's own rules (one input named `image`, three datatypes,
        # three outputs) are checked by the service with messages of their own, as described.
        "RequestInput": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
            "name": {"type": "string", "examples": ["image"],
                     "description": "This model has one input, `image`."},
            "shape": {**shape, "maxItems": 32},  # numpy refuses arrays of more than 64 (32 before numpy 2)
            "datatype": {"type": "string", "examples": ["FP32", "UINT8", "BYTES"],
                         "description": "`FP32` ([N,1,28,28], [N,28,28] or [N,784] in [0, 1]), `UINT8` (same "
                                        "shapes, 0..255) or `BYTES` ([N] or [N,1] image files: base64 text in "
                                        "JSON, raw as binary data)."},
            "parameters": parameters,
            "data": {"type": "array", "description": "Row-major elements, flat or nested; absent when the "
                                                     "parameter `binary_data_size` gives binary data."}}},
        "RequestOutput": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "examples": ["probabilities", "class_index", "label"],
                     "description": "`probabilities`, `class_index` or `label`."},
            "parameters": parameters}},
        "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string", "description": "Echoed in the response."},
            "parameters": parameters,
            "inputs": {"type": "array", "minItems": 1, "items": _ref("RequestInput")},
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
    text = {"text/plain": {"schema": {"type": "string"}}}
    open_object = {"type": "object"}
    paths = {
        "/predict": {"post": {
            "summary": "Classify one or more images", "tags": ours,
            "description": "Any size or mode is converted to grayscale, fitted to 28x28 and inverted when the "
                           "background is light (INVERT). One image gives one prediction object; several "
                           "give `{\"predictions\": [...]}`.",
            "parameters": [_RETURN_INPUT],
            "requestBody": _PREDICT_BODY,
            "responses": {"200": _answer("The prediction(s).", _json(
                {"oneOf": [_ref("Prediction"), _ref("Predictions")]})),
                **_errors(400, 413, 415, 422, 503)},
        }},
        "/explain": {"post": {
            "summary": "Classify images and explain each prediction pixel by pixel", "tags": ours,
            "description": "The same input forms, limits and `return_input` as /predict; each prediction "
                           "object also carries an `explanation`: the attributions of the predicted class "
                           "(or `class`) over the 28x28 input, against a black baseline. Exact for the "
                           "linear model, Integrated Gradients for the others (docs/explain.md). A model "
                           "trained before explanations existed answers 422 `explain_unavailable`.",
            "parameters": [_RETURN_INPUT, {
                "name": "class", "in": "query", "required": False,
                "description": "The class to explain, by index (`3`) or label (`Dress`, case ignored); "
                               "default: each image's predicted class.",
                "schema": {"type": "string", "examples": ["3", "Dress"]}}],
            "requestBody": _PREDICT_BODY,
            "responses": {"200": _answer("The prediction(s), each with its explanation.", _json(
                {"oneOf": [_ref("ExplainedPrediction"), _ref("ExplainedPredictions")]})),
                **_errors(400, 413, 415, 422, 503)},
        }},
        "/explain/templates": _get(
            "The linear model's weights: one 28x28 template per class, with its bias",
            _answer("The templates.", _json(_ref("Templates"))), 422, 503, tags=ours,
            description="422 `explain_unavailable` for a model that is not linear or has no explain.onnx."),
        "/explain/templates.png": _get(
            "The linear model's templates as one labelled image (blue negative, red positive, one scale)",
            _answer("PNG image.", {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}),
            422, 503, tags=ours,
            description="422 `explain_unavailable` for a model that is not linear or has no explain.onnx."),
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
    _secure(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fashion-MNIST serving", "version": "1",
                 "description": "Our own JSON API (`/predict`, errors `{\"error\": {\"code\", \"message\"}}`) and "
                                "the Open Inference Protocol (KServe v2 / Triton HTTP) under `/v2` (errors "
                                "`{\"error\": \"message\"}`). Unknown paths answer 404 and known paths 405 for "
                                "other methods, in the error form of their prefix. docs/v2-protocol.md has "
                                "examples."},
        "paths": paths,
        "components": {"schemas": _schemas(), "headers": _HEADERS, "securitySchemes": _SECURITY_SCHEMES},
        # Either scheme; only when the service has API keys (API_KEYS, API_KEYS_FILE), else no key is needed.
        "security": [{"bearer": []}, {"apiKey": []}],
    }
