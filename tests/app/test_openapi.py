"""The OpenAPI document: valid OpenAPI 3.1, a path for every route the app has (with the same methods),
and /docs/ showing it with Swagger UI from the service itself, no CDN."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from tests.conftest import serving_app
from app.openapi import document


@pytest.fixture(scope="module")
def app():
    return serving_app(load=False)


def test_the_served_document_is_valid_openapi_3_1(app):
    served = app.test_client().get("/openapi.json").get_json()
    assert served == document() and served["openapi"].startswith("3.1")
    validate(served, cls=OpenAPIV31SpecValidator)


def test_every_route_is_documented_with_its_methods(app):
    documented = {path: {m.upper() for m in item} for path, item in document()["paths"].items()}
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith("swagger_ui.show") and "<" in rule.rule:
            continue  # Flask's static files; Swagger UI's own script and style files
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    routes["/docs"] = {"GET"}  # werkzeug redirects it to /docs/
    assert routes == documented


def test_docs_page_loads_swagger_ui_from_the_service(app):
    client = app.test_client()
    assert client.get("/docs").headers["Location"].endswith("/docs/")
    page = client.get("/docs/").get_data(as_text=True)
    assert "/openapi.json" in page and '"validatorUrl": null' in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and not [s for s in sources if "//" in s]  # nothing from another host
    for source in sources:
        assert client.get(source).status_code == 200, source
