"""The Open Inference Protocol (KServe v2 / Triton HTTP) beside our own API: health, server and model
metadata, and inference with JSON or binary tensor data (docs/v2-protocol.md).

Errors under /v2 answer the protocol's `{"error": "message"}` (app/error_handlers.py).
"""
from __future__ import annotations

from importlib import metadata

import numpy as np
from flask import Blueprint, abort, current_app, request

from app import metrics
from app.context import predictor_for, ready_predictor, served_versions, settings
from app.request_body import read_body
from app.v2.codec import HEADER_LENGTH, read_request, write_response
from app.v2.inputs import INPUT, image_batch
from inference.limits import Limits
from inference.predictor import Predictor

bp = Blueprint("v2", __name__, url_prefix="/v2")
MODEL = "fashion-mnist"
SERVER = "fashion-mnist-serving"
OUTPUTS = ("probabilities", "class_index", "label", "ood_score", "out_of_distribution")
# A model trained before the out-of-distribution detector has only these.
BASE_OUTPUTS = OUTPUTS[:3]
_PLATFORMS = {"onnx": "onnx_onnxv1", "torch": "pytorch_statedict"}


@bp.get("")
def server_metadata():
    return {"name": SERVER, "version": _server_version(), "extensions": ["binary_tensor_data"]}


@bp.get("/health/live")
def live():
    return {"live": True}


@bp.get("/health/ready")
def ready():
    ready_predictor()  # 503 until the model has loaded and warmed up
    return {"ready": True}


@bp.get("/models/<model_name>", defaults={"model_version": None})
@bp.get("/models/<model_name>/versions/<model_version>")
def model_metadata(model_name: str, model_version: str | None):
    _, predictor = _model(model_name, model_version)
    classes = len(predictor.classes)
    outputs = [{"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
               {"name": "class_index", "datatype": "INT64", "shape": [-1]},
               {"name": "label", "datatype": "BYTES", "shape": [-1]},
               {"name": "ood_score", "datatype": "FP32", "shape": [-1]},
               {"name": "out_of_distribution", "datatype": "BOOL", "shape": [-1]}]
    return {
        "name": MODEL, "versions": served_versions(), "platform": _PLATFORMS[predictor.backend],
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
        "outputs": outputs[:len(_outputs_of(predictor))],
        # The model's own identity (model.json), also in every answer's X-Model-Version header.
        "parameters": {"sha_version": predictor.version, "backend": predictor.backend, "device": predictor.device},
    }


@bp.get("/models/<model_name>/ready", defaults={"model_version": None})
@bp.get("/models/<model_name>/versions/<model_version>/ready")
def model_ready(model_name: str, model_version: str | None):
    _model(model_name, model_version)
    return {"name": MODEL, "ready": True}


@bp.post("/models/<model_name>/infer", defaults={"model_version": None})
@bp.post("/models/<model_name>/versions/<model_version>/infer")
def infer(model_name: str, model_version: str | None):
    version, predictor = _model(model_name, model_version)
    config = settings()
    limits = Limits.start(config)
    # The same reader as /predict: a body cut short is a 400, one over MAX_UPLOAD_MB a 413, chunked or not.
    parsed = read_request(read_body(request, limits), request.headers.get(HEADER_LENGTH))
    known = _outputs_of(predictor)
    outputs = parsed.outputs if parsed.outputs is not None else dict.fromkeys(known, parsed.binary_output)
    unknown = [output for output in outputs if output not in known]
    if unknown:
        abort(400, description=f"unknown output {unknown[0]!r}; the model's outputs are {', '.join(known)}")

    _, probabilities, scores = metrics.timed_predict(
        predictor, lambda: image_batch(parsed.inputs, limits=limits, invert=config.invert))
    tensors = _output_tensors(predictor, probabilities, scores)
    flagged = int(tensors["out_of_distribution"][1].sum()) if scores is not None else 0
    metrics.observe_trust("/v2/infer", probabilities.max(axis=1).tolist(),
                          None if scores is None else scores.tolist(), flagged)
    metrics.count_predictions(label.decode() for label in tensors["label"][1])
    header = {"model_name": MODEL, "model_version": version}
    if parsed.id is not None:
        header["id"] = parsed.id
    body, header_length = write_response(
        header, [(output, *tensors[output], binary) for output, binary in outputs.items()])
    if header_length is None:
        return current_app.response_class(body, mimetype="application/json")
    response = current_app.response_class(body, mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(header_length)
    return response


def _server_version() -> str:
    try:
        return metadata.version(SERVER)
    except metadata.PackageNotFoundError:  # the runtime image copies app/ without installing the project
        return "unknown"


def _model(name: str, version: str | None) -> tuple[str, Predictor]:
    if name != MODEL:
        abort(404, description=f"unknown model {name!r}; this server serves {MODEL!r}")
    return predictor_for(version)


def _outputs_of(predictor: Predictor) -> tuple[str, ...]:
    return OUTPUTS if predictor.ood_threshold is not None else BASE_OUTPUTS


def _output_tensors(predictor: Predictor, probabilities: np.ndarray,
                    scores: np.ndarray | None = None) -> dict[str, tuple[str, np.ndarray]]:
    """The model's outputs by name: (datatype, array); the ood pair only with scores."""
    indices = np.argmax(probabilities, axis=1).astype(np.int64)
    labels = np.array([predictor.classes[i].encode() for i in indices.tolist()], dtype=object)
    tensors = {"probabilities": ("FP32", probabilities.astype(np.float32, copy=False)),
               "class_index": ("INT64", indices), "label": ("BYTES", labels)}
    if scores is not None:
        tensors["ood_score"] = ("FP32", scores.astype(np.float32, copy=False))
        tensors["out_of_distribution"] = ("BOOL", np.array(predictor.out_of_distribution(scores.tolist()), dtype=bool))
    return tensors
