"""GET / and its files through the Flask test client: security headers, no inline code, and relative
URLs only, checked by serving the app under a path prefix as a proxy would."""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from flask import Flask
from PIL import Image
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from tests.conftest import serving_app
from app.routes.page import STATIC

FILES = {"page/page.js": "text/javascript", "page/page.css": "text/css", "page/favicon.svg": "image/svg+xml"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@pytest.fixture(scope="module")
def app(trained_model_dir):
    return serving_app(MODEL_DIR=trained_model_dir)


class Tags(HTMLParser):
    """Every start tag of a page, as (tag, attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def urls(self) -> list[str]:
        return [attrs[name] for _, attrs in self.tags for name in ("src", "href") if name in attrs]


def page_html() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def script_urls() -> list[str]:
    """The URL constants page.js fetches (`const SOMETHING_URL = "..."`)."""
    return re.findall(r'const \w+_URL = "([^"]*)"', (STATIC / "page.js").read_text(encoding="utf-8"))


def test_page_answers_html_with_csp_and_nosniff(app):
    response = app.test_client().get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<canvas" in response.get_data(as_text=True)


@pytest.mark.parametrize("path, mimetype", FILES.items())
def test_page_files_are_served_with_the_same_headers(app, path, mimetype):
    response = app.test_client().get(f"/{path}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_answers_carry_nosniff_too(app):
    client = app.test_client()
    for response in (client.get("/healthz"), client.get("/no/such/path"),
                     client.post("/predict", data=b"hello", content_type="text/plain")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_has_no_inline_script_style_or_handler():
    tags = Tags(page_html()).tags
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert not [tag for tag, _ in tags if tag == "style"]
    assert not [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on") or name == "style"]


def test_every_url_of_the_page_and_its_script_is_relative():
    urls = Tags(page_html()).urls() + script_urls()
    assert len(urls) >= 5 and "predict?return_input=png" in urls
    assert [url for url in urls if url.startswith("/") or re.match(r"\w+:", url)] == []


@pytest.fixture(scope="module")
def prefixed(app) -> Client:
    """The app mounted at /fmnist, as a proxy forwarding /fmnist/... with SCRIPT_NAME would."""
    return Client(DispatcherMiddleware(Flask("elsewhere"), {"/fmnist": app}))


def test_under_a_prefix_every_url_of_the_page_resolves(prefixed):
    page = prefixed.get("/fmnist/")
    assert page.status_code == 200
    base = "http://proxy.example/fmnist/"
    for url in Tags(page.get_data(as_text=True)).urls() + ["readyz"]:
        path = urljoin(base, url).removeprefix("http://proxy.example")
        assert path.startswith("/fmnist/") and prefixed.get(path).status_code == 200, url


def test_under_a_prefix_the_page_predicts(prefixed):
    buffer = io.BytesIO()
    Image.new("L", (28, 28), 255).save(buffer, "PNG")
    predict_url = next(url for url in script_urls() if url.startswith("predict"))
    response = prefixed.post(f"/fmnist/{predict_url}", data={"image": (io.BytesIO(buffer.getvalue()), "w.png")})
    assert response.status_code == 200 and "input_png" in response.get_json()


def test_under_a_prefix_without_final_slash_redirects_to_it(prefixed):
    # Without the slash, the browser would resolve page/page.js against the proxy's root.
    response = prefixed.get("/fmnist")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/fmnist/")
