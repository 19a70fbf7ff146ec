"""The DEVICE setting's values, for the service, the scorer and training alike."""
from __future__ import annotations

import re

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_device(raw: str) -> str:
    """auto, cpu, cuda or cuda:N (any case), lower-cased; ValueError for anything else."""
    if not _DEVICE.fullmatch(raw.lower()):
        raise ValueError("device")
    return raw.lower()
