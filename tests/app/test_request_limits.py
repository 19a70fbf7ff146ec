"""app/predict_inputs.py's request limits without a server: the body against its declared length and the
upload cap, the pixel budget and the deadline (the reliability suite drives them through gunicorn)."""
from __future__ import annotations

import io
import time

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from inference.errors import InputError
from app.request_body import read_body
from inference.decode import decode_batch
from inference.limits import Limits
from tests.reliability.harness import gradient_png, png_bytes


def _limits(**overrides) -> Limits:
    values = dict(max_bytes=1000, max_batch=8, max_pixels=10_000_000, timeout_s=10.0,
                  deadline=time.monotonic() + 10)
    return Limits(**{**values, **overrides})


def _request(body: bytes, content_length: int | None) -> Request:
    environ = EnvironBuilder(method="POST", content_type="image/png").get_environ()
    environ["wsgi.input"] = io.BytesIO(body)
    if content_length is None:  # as gunicorn passes a chunked body
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    return Request(environ)


def test_body_shorter_than_declared_is_a_400():
    with pytest.raises(InputError) as caught:
        read_body(_request(b"x" * 500, 800), _limits())
    assert (caught.value.status, caught.value.code) == (400, "incomplete_body")


@pytest.mark.parametrize("declared", [None, 1500], ids=["chunked", "content-length"])
def test_body_over_the_cap_is_a_413_whatever_the_encoding(declared):
    with pytest.raises(InputError) as caught:
        read_body(_request(b"x" * 1500, declared), _limits())
    assert (caught.value.status, caught.value.code) == (413, "request_entity_too_large")


def test_chunked_body_within_the_cap_is_read_whole_and_rereadable():
    request = _request(b"y" * 1000, None)
    assert read_body(request, _limits()) == b"y" * 1000
    assert request.get_data() == b"y" * 1000


def test_pixel_budget_counts_every_image_before_decoding():
    big = gradient_png(2000)  # 4 MP
    with pytest.raises(InputError) as caught:
        decode_batch([big, big, big], invert="auto", limits=_limits(max_pixels=10_000_000))
    assert (caught.value.status, caught.value.code) == (413, "too_many_pixels")
    assert decode_batch([big, big], invert="auto", limits=_limits()).shape == (2, 1, 28, 28)


def test_past_the_deadline_decoding_stops_with_a_503():
    with pytest.raises(InputError) as caught:
        decode_batch([png_bytes()] * 3, invert="auto", limits=_limits(deadline=time.monotonic() - 1))
    assert (caught.value.status, caught.value.code) == (503, "deadline_exceeded")
