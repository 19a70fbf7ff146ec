"""POST /explain: /predict's answer with each image's per-pixel attributions; GET
/explain/templates(.png): the linear model's weights, one 28x28 template per class (docs/explain.md).
The explaining itself is the core's (inference/explain.py)."""
from __future__ import annotations

from flask import Blueprint, Response, request

from app.context import ready_predictor
from app.routes.predict import answer
from app.templates_image import render_templates
from inference.explain import resolve_class

bp = Blueprint("explain", __name__)


@bp.post("/explain")
def explain():
    predictor = ready_predictor()
    target = {}

    def checks() -> None:
        predictor.require_explainer()  # 422 for old artifacts before the body is read
        if "class" in request.args:
            target["index"] = resolve_class(request.args["class"], predictor.classes)

    def add(predictions, batch) -> None:
        targets = [target.get("index", p["class_index"]) for p in predictions]
        for prediction, explanation in zip(predictions, predictor.explain(batch, targets)):
            prediction["explanation"] = explanation.as_dict()

    return answer(predictor, add, checks)


@bp.get("/explain/templates")
def templates():
    predictor = ready_predictor()
    weights, biases = predictor.require_explainer().templates()
    return {"model_version": predictor.version, "method": "linear weights",
            "scale": float(abs(weights).max()),
            "templates": [{"class": name, "class_index": index, "bias": float(biases[index]),
                           "weights": weights[index].tolist()}
                          for index, name in enumerate(predictor.classes)]}


@bp.get("/explain/templates.png")
def templates_png():
    predictor = ready_predictor()
    weights, _ = predictor.require_explainer().templates()
    response = Response(render_templates(weights, predictor.classes), mimetype="image/png")
    response.headers["Cache-Control"] = "no-cache"  # a new model version draws new templates
    return response
