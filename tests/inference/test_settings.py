"""Settings from the environment: defaults, parsing, and a clear error naming a bad variable."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from inference.settings import Settings


def test_defaults():
    settings = Settings.from_env({})
    assert settings.model_dir == Path("artifacts") and settings.model_backend == "onnx"
    assert (settings.device, settings.invert, settings.log_level) == ("auto", "auto", "info")
    assert (settings.max_upload_mb, settings.max_batch, settings.port) == (10.0, 256, 8000)
    assert settings.threads_per_worker == 1 and settings.reject_out_of_distribution is False
    assert settings.web_concurrency == len(os.sched_getaffinity(0))
    assert settings.max_upload_bytes == 10 * 1024 * 1024


def test_values_are_parsed():
    settings = Settings.from_env({
        "MODEL_DIR": "/models", "MODEL_BACKEND": "TORCH", "DEVICE": "cuda:1", "MAX_UPLOAD_MB": "0.5",
        "MAX_BATCH": "8", "INVERT": "never", "WEB_CONCURRENCY": "3", "THREADS_PER_WORKER": "2",
        "LOG_LEVEL": "DEBUG", "PORT": "9000", "UNRELATED": "x", "INVERT_EXTRA": "", "MAX_BATCH ": "1"})
    assert settings == Settings(model_dir=Path("/models"), model_backend="torch", device="cuda:1",
                                max_upload_mb=0.5, max_batch=8, invert="never", web_concurrency=3,
                                threads_per_worker=2, log_level="debug", port=9000)


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("TRUE", True), ("0", False), ("false", False)])
def test_reject_out_of_distribution_is_a_flag(raw, expected):
    assert Settings.from_env({"REJECT_OUT_OF_DISTRIBUTION": raw}).reject_out_of_distribution is expected


def test_empty_values_mean_the_default():
    assert Settings.from_env({"PORT": "", "DEVICE": "  "}) == Settings.from_env({})


@pytest.mark.parametrize("name,value", [
    ("MODEL_BACKEND", "tensorflow"), ("DEVICE", "gpu"), ("DEVICE", "cuda:x"), ("MAX_UPLOAD_MB", "0"),
    ("MAX_UPLOAD_MB", "nan"), ("MAX_UPLOAD_MB", "inf"), ("MAX_BATCH", "0"), ("MAX_BATCH", "2.5"), ("INVERT", "yes"),
    ("WEB_CONCURRENCY", "-1"), ("THREADS_PER_WORKER", "many"), ("LOG_LEVEL", "loud"), ("PORT", "70000"),
    ("REJECT_OUT_OF_DISTRIBUTION", "yes"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ValueError, match=rf"^{name}='{value}' is not valid"):
        Settings.from_env({name: value})


def test_api_keys_from_the_list_and_the_file(tmp_path):
    secret = tmp_path / "keys"
    secret.write_text("c\n\n a \n")
    assert Settings.from_env({}).api_keys == ()
    assert Settings.from_env({"API_KEYS": " a, b,,a "}).api_keys == ("a", "b")
    assert Settings.from_env({"API_KEYS": "a\nb c"}).api_keys == ("a", "b", "c")  # a Secret's lines
    assert Settings.from_env({"API_KEYS": "a,b", "API_KEYS_FILE": str(secret)}).api_keys == ("a", "b", "c")
    assert Settings.from_env({"API_KEYS_FILE": str(secret)}).api_keys == ("c", "a")
    assert "sesame" not in repr(Settings.from_env({"API_KEYS": "sesame"}))


@pytest.mark.parametrize("content", [None, "", "\n \n"])
def test_an_unreadable_or_empty_keys_file_refuses_to_start(tmp_path, content):
    secret = tmp_path / "keys"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ValueError, match=r"^API_KEYS_FILE='.*keys' is not valid"):
        Settings.from_env({"API_KEYS_FILE": str(secret)})


def test_api_keys_of_only_commas_refuse_to_start():
    with pytest.raises(ValueError, match=r"^API_KEYS=' , ,' is not valid"):
        Settings.from_env({"API_KEYS": " , ,"})
