"""GET /openapi.json (the document in app/openapi.py) and GET /docs/, Swagger UI showing it.

Swagger UI's files come from the flask-swagger-ui package and are served by the service itself, so
the page works offline; the online validator badge is turned off for the same reason.
"""
from __future__ import annotations

from flask import Blueprint
from flask_swagger_ui import get_swaggerui_blueprint

from app.openapi import document

bp = Blueprint("docs", __name__)
bp.register_blueprint(get_swaggerui_blueprint(
    "/docs", "/openapi.json", config={"app_name": "Fashion-MNIST serving API", "validatorUrl": None}))


@bp.get("/openapi.json")
def openapi():
    return document()
