"""Every setting the service reads from the environment, read and checked in this one place."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from inference.devices import parse_device
from inference.predictor import BACKENDS
from inference.decode import INVERT_CHOICES

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def available_cpus() -> int:
    """CPUs this process may run on (a container's cpuset or taskset's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Values of the environment variables of the same names, upper-cased (docs/operations.md lists them)."""

    model_dir: Path = Path("artifacts")
    # A folder of version folders 1/, 2/, ... (replaces MODEL_DIR when set); a plain model folder
    # given here is version 1.
    model_repository: Path | None = None
    model_version: int = 0  # pin one version folder; 0 serves the newest valid one
    model_poll_seconds: float = 5.0  # how often workers look for new versions; 0: never
    model_backend: str = "onnx"  # onnx | torch (torch imported only then)
    device: str = "auto"  # auto | cpu | cuda[:N]; auto falls back to cpu with a log line
    max_upload_mb: float = 10.0  # request body cap, answered with 413
    max_batch: int = 256  # images per request, answered with 413 beyond
    max_request_pixels: int = 100_000_000  # pixels of all images of one request (headers), 413 beyond
    request_timeout_s: float = 10.0  # deadline per request, checked between images: 503 past it
    invert: str = "auto"  # auto | always | never (auto: when the image background is light)
    # 1: an image the model flags as out of distribution is answered with a 422, not a prediction.
    reject_out_of_distribution: bool = False
    web_concurrency: int = 0  # gunicorn workers; 0 means one per CPU we may use
    threads_per_worker: int = 1  # intra-op threads of onnxruntime / torch in each worker
    log_level: str = "info"
    port: int = 8000
    host: str = "0.0.0.0"  # the address gunicorn listens on; 127.0.0.1 keeps it to this machine
    # Keys a client must send (Authorization: Bearer or X-API-Key); none: the service is open.
    # API_KEYS is comma- (or blank-) separated; the keys of API_KEYS_FILE (one a line, for Docker and Kubernetes
    # secrets) are added to them. Kept out of repr so that a logged Settings never shows a key.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_keys_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Settings from `env` (default os.environ); a bad value raises ValueError naming the variable."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            try:
                values[f.name] = _parse(f.name, raw.strip())
            except ValueError:
                raise ValueError(f"{f.name.upper()}={raw!r} is not valid: {_RULES[f.name]}") from None
        if "api_keys_file" in values:
            values["api_keys"] = _keys([*values.get("api_keys", ()), *_read_keys(values["api_keys_file"])])
        settings = cls(**values)
        if settings.web_concurrency == 0:
            settings = replace(settings, web_concurrency=available_cpus())
        return settings

    @property
    def model_root(self) -> Path:
        """Where the served model(s) are: MODEL_REPOSITORY when set, else MODEL_DIR."""
        return self.model_repository or self.model_dir

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


_RULES = {
    "model_dir": "a folder path",
    "model_repository": "a folder path",
    "model_version": "a positive integer (a version folder's name)",
    "model_poll_seconds": "a number of seconds, 0 or more",
    "model_backend": " or ".join(BACKENDS),
    "device": "auto, cpu, cuda or cuda:N",
    "max_upload_mb": "a positive number of megabytes",
    "max_batch": "a positive integer",
    "max_request_pixels": "a positive integer",
    "request_timeout_s": "a positive number of seconds",
    "invert": " or ".join(INVERT_CHOICES),
    "reject_out_of_distribution": "0 or 1 (also false or true)",
    "web_concurrency": "a positive integer",
    "threads_per_worker": "a positive integer",
    "log_level": " or ".join(LOG_LEVELS),
    "port": "an integer in 1..65535",
    "host": "an address to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::",
    "api_keys": "keys separated by commas or blanks",
    "api_keys_file": "a readable file of keys, one a line",
}


_CHOICES = {"model_backend": BACKENDS, "invert": INVERT_CHOICES, "log_level": LOG_LEVELS}


def _parse(name: str, raw: str):
    """One setting's typed value; ValueError when it breaks its rule."""
    if name in ("model_dir", "model_repository", "api_keys_file"):
        return Path(raw)
    if name == "host":
        if any(c.isspace() or c in "[]/" for c in raw):
            raise ValueError(name)
        return raw
    if name == "api_keys":
        keys = _keys(re.split(r"[,\s]+", raw))
        if not keys:  # only commas and blanks: never a service left open by mistake
            raise ValueError(name)
        return keys
    if name == "device":
        return parse_device(raw)
    if name == "reject_out_of_distribution":
        flags = {"0": False, "false": False, "1": True, "true": True}
        if raw.lower() not in flags:
            raise ValueError(name)
        return flags[raw.lower()]
    if name in _CHOICES:
        if raw.lower() not in _CHOICES[name]:
            raise ValueError(name)
        return raw.lower()
    if name in ("max_upload_mb", "model_poll_seconds", "request_timeout_s"):
        number = float(raw)
        if not (math.isfinite(number) and (number > 0 or name == "model_poll_seconds" and number == 0)):
            raise ValueError(name)
        return number
    number = int(raw)
    if number < 1 or (name == "port" and number > 65535):
        raise ValueError(name)
    return number


def _keys(items) -> tuple[str, ...]:
    """Distinct non-empty keys, in order (blanks around a key are not part of it)."""
    return tuple(dict.fromkeys(key.strip() for key in items if key.strip()))


def _read_keys(path: Path) -> tuple[str, ...]:
    try:
        keys = _keys(path.read_text().splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        # The path and the reason, never the file's content.
        raise ValueError(f"API_KEYS_FILE={str(path)!r} is not valid: cannot read it ({exc.strerror or exc})") from None
    if not keys:
        raise ValueError(f"API_KEYS_FILE={str(path)!r} is not valid: it holds no key")
    return keys
