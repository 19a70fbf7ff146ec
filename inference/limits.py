"""What one request may cost, and its deadline: checked while its images are decoded."""
from __future__ import annotations

import time
from typing import NamedTuple

from inference.errors import InputError


class Limits(NamedTuple):
    """Body bytes, images, pixels, and a deadline (time.monotonic())."""

    max_bytes: int
    max_batch: int
    max_pixels: int
    timeout_s: float
    deadline: float

    @classmethod
    def start(cls, settings) -> "Limits":
        """The limits of a request starting now, from the service's Settings."""
        return cls(settings.max_upload_bytes, settings.max_batch, settings.max_request_pixels,
                   settings.request_timeout_s, time.monotonic() + settings.request_timeout_s)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise InputError(503, "deadline_exceeded",
                             f"the request took longer than REQUEST_TIMEOUT_S={self.timeout_s:g}s; "
                             "send fewer or smaller images")

    def check_batch(self, count: int) -> None:
        if count > self.max_batch:
            raise InputError(413, "too_many_images", f"{count} images sent; at most {self.max_batch} per request")
