"""GET /: the page for people (app/static/page/), with its security headers.

The page is static HTML, CSS and JavaScript shipped in the package: no CDN, no build step. Every URL
in it is relative, so it works unchanged under a path prefix behind a proxy.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, request, send_from_directory

STATIC = Path(__file__).resolve().parents[1] / "static" / "page"
# Only the service's own files run, style and connect; data: for the 28x28 inputs the API returns
# as base64 PNGs, blob: for thumbnails of the person's own files. No inline script or style, no
# plugins, no framing by other sites, forms post only here.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

bp = Blueprint("page", __name__, static_folder=STATIC, static_url_path="/page")


@bp.get("/")
def index():
    if request.script_root and not request.environ.get("PATH_INFO"):
        # Served at /prefix (no final slash): the page's relative URLs need /prefix/ to resolve.
        return redirect(request.script_root + "/", code=308)
    response = send_from_directory(STATIC, "index.html")
    response.cache_control.no_cache = True  # a new version of the service shows its new page
    return response


@bp.after_request
def page_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
