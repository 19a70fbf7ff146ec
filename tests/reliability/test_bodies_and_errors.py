"""Bodies that lie about their length or exceed the cap, and the errors answered below Flask
(gunicorn's own, nginx's own): all are the API's JSON error with the right status."""
from __future__ import annotations

import json

import pytest
import requests

from tests.reliability.harness import free_port, png_bytes, raw_exchange

LIMIT_MB = "0.25"  # 262144 bytes


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    return gunicorn_server(trained_model_dir, workers=1, env={"MAX_UPLOAD_MB": LIMIT_MB})


@pytest.fixture(scope="module")
def proxy(nginx_proxy, server):
    return nginx_proxy(server.url, env={"MAX_UPLOAD_MB": LIMIT_MB})


def _error(body: bytes) -> dict:
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["message"]
    return error


def _chunked(payload: bytes, size: int = 8192) -> bytes:
    pieces = [b"%x\r\n%s\r\n" % (len(payload[i:i + size]), payload[i:i + size])
              for i in range(0, len(payload), size)]
    return b"".join(pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("via", ["gunicorn", "nginx"])
def test_body_shorter_than_its_content_length_is_a_400_not_a_prediction(server, proxy, via):
    url = server.url if via == "gunicorn" else proxy.url
    image = png_bytes()
    head = (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(image) + 500))
    status, body = raw_exchange(url, head + image, half_close=True)
    if via == "nginx":  # nginx drops it ("client prematurely closed"): gunicorn never sees it
        assert status in (0, 400)
        return
    assert status == 400
    assert _error(body)["code"] == "incomplete_body"


def test_whole_body_still_predicts(server, proxy):
    for url in (server.url, proxy.url):
        response = requests.post(f"{url}/predict", data=png_bytes(), headers={"Content-Type": "image/png"}, timeout=10)
        assert response.status_code == 200 and "label" in response.json()


@pytest.mark.parametrize("via", ["gunicorn", "nginx"])
def test_chunked_body_over_the_limit_is_a_413(server, proxy, via):
    url = server.url if via == "gunicorn" else proxy.url
    head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, body = raw_exchange(url, head + _chunked(png_bytes() + b"\0" * 300_000))
    assert status == 413
    assert _error(body)["code"] == "request_entity_too_large"


def test_chunked_body_within_the_limit_predicts(server):
    head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, body = raw_exchange(server.url, head + _chunked(png_bytes(), size=50))
    assert status == 200 and "label" in json.loads(body)


@pytest.mark.parametrize("request_bytes, status", [
    (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
], ids=["bad-content-length", "header-too-large", "too-many-headers", "unsupported-coding", "uri-too-long"])
def test_gunicorns_own_errors_are_json(server, request_bytes, status):
    got, body = raw_exchange(server.url, request_bytes)
    assert got == status
    assert _error(body)["code"] == {400: "bad_request", 414: "uri_too_long",
                                    431: "request_header_fields_too_large"}[status]
    assert b"<html" not in body


@pytest.mark.parametrize("request_bytes, status", [
    (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nContent-Length: 300000\r\n\r\n", 413),
], ids=["bad-content-length", "header-too-large", "declared-too-large"])
def test_nginxs_own_errors_are_json(proxy, request_bytes, status):
    got, body = raw_exchange(proxy.url, request_bytes)
    assert got == status
    assert _error(body)["code"]


def test_nginx_answers_502_as_json_when_gunicorn_is_down(nginx_proxy):
    proxy = nginx_proxy(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    response = requests.post(f"{proxy.url}/predict", data=png_bytes(), timeout=10)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("application/json")
    assert _error(response.content)["code"] == "bad_gateway"


def _v2_bytes_request(png: bytes) -> tuple[bytes, bytes]:
    """A v2 infer request with one BYTES image as binary data: (its JSON header, the whole body)."""
    header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                     "parameters": {"binary_data_size": 4 + len(png)}}]}).encode()
    return header, header + len(png).to_bytes(4, "little") + png


def test_v2_infer_reads_its_body_as_predict_does(server):
    """Open Inference Protocol requests get the same body checks, in the protocol's error form."""
    header, body = _v2_bytes_request(png_bytes())
    head = (b"POST /v2/models/fashion-mnist/infer HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %d\r\n" % len(header))
    status, answer = raw_exchange(server.url, head + b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body,
                                  half_close=True)
    assert status == 400 and "declares" in json.loads(answer)["error"]
    status, answer = raw_exchange(server.url, head + b"Transfer-Encoding: chunked\r\n\r\n"
                                  + _chunked(body + b"\0" * 300_000))
    assert status == 413 and isinstance(json.loads(answer)["error"], str)
    status, answer = raw_exchange(server.url, head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body))
    assert status == 200 and b'"probabilities"' in answer
