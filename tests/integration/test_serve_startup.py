"""A missing or corrupt model stops gunicorn at start: non-zero exit, one clear line naming the file,
no crash loop. A good model starts with `gunicorn -c gunicorn.conf.py` and no other argument."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest

BOOT_TIMEOUT = 60


def _cannot_serve_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "cannot serve:" in line]


def _refused_start(gunicorn_server, model_dir, env: dict) -> tuple[str, str]:
    """Start gunicorn expecting it to stop with exit code 3 (gunicorn's "worker failed to boot",
    on which the arbiter halts) and exactly one `cannot serve:` line, no traceback; returns the
    log and that line."""
    server = gunicorn_server(model_dir, workers=2, env=env, wait=False)
    code = server.process.wait(BOOT_TIMEOUT)
    log = server.log()
    assert code == 3, log
    lines = _cannot_serve_lines(log)
    assert len(lines) == 1, log
    assert "Traceback" not in log
    return log, lines[0]


def test_missing_model_folder_fails_before_forking(gunicorn_server, tmp_path):
    server = gunicorn_server(tmp_path / "nowhere", workers=2, wait=False)
    code = server.process.wait(BOOT_TIMEOUT)
    lines = _cannot_serve_lines(server.log())
    assert code != 0
    assert len(lines) == 1 and f"{tmp_path / 'nowhere' / 'model.json'}" in lines[0]
    assert "Booting worker" not in server.log() and "Traceback" not in server.log()


@pytest.mark.parametrize("backend,name", [("onnx", "model.onnx"), ("torch", "model.pt")])
def test_corrupt_model_stops_gunicorn_with_a_line_naming_the_file(gunicorn_server, trained_model_dir,
                                                                 tmp_path, backend, name):
    # Garbage that model.json vouches for: the master's check passes, the worker's load fails.
    model = shutil.copytree(trained_model_dir, tmp_path / "model")
    (model / name).write_bytes(b"not a model at all")
    meta = json.loads((model / "model.json").read_text())
    meta["sha256"][name] = hashlib.sha256(b"not a model at all").hexdigest()
    (model / "model.json").write_text(json.dumps(meta))

    log, line = _refused_start(gunicorn_server, model, {"MODEL_BACKEND": backend})
    assert str(model / name) in line, log
    # No crash loop: a worker that failed second may be replaced once before the arbiter halts.
    assert log.count("Booting worker") <= 4


def test_invalid_setting_fails_with_its_name(gunicorn_server, trained_model_dir):
    server = gunicorn_server(trained_model_dir, env={"MODEL_BACKEND": "tensorflow"}, wait=False)
    assert server.process.wait(BOOT_TIMEOUT) != 0
    assert "MODEL_BACKEND='tensorflow' is not valid" in server.log()


def _without_torch(folder, torch_init: str | None) -> dict:
    """Settings for a gunicorn whose Python cannot import torch: torch_init None makes torch absent
    (as in the slim image); otherwise a `torch` package with that __init__ hides the real one (a
    broken install that importlib still finds)."""
    folder.mkdir()
    if torch_init is None:
        (folder / "sitecustomize.py").write_text('import sys\nsys.modules["torch"] = None\n')
    else:
        (folder / "torch").mkdir()
        (folder / "torch" / "__init__.py").write_text(torch_init)
    return {"MODEL_BACKEND": "torch", "PYTHONPATH": str(folder)}


def test_torch_backend_without_torch_stops_before_forking(gunicorn_server, trained_model_dir,
                                                           tmp_path):
    env = _without_torch(tmp_path / "no-torch", None)
    log, line = _refused_start(gunicorn_server, trained_model_dir, env)
    assert "MODEL_BACKEND=torch needs PyTorch" in line and "MODEL_BACKEND=onnx" in line, log
    assert "Booting worker" not in log


def test_torch_that_fails_to_import_stops_the_workers_with_one_line(gunicorn_server,
                                                                   trained_model_dir, tmp_path):
    # The master's check only looks for torch; importing it happens in the worker, and fails there.
    env = _without_torch(tmp_path / "broken-torch",
                         'raise ImportError("libtorch_cpu.so: cannot open shared object file")\n')
    log, line = _refused_start(gunicorn_server, trained_model_dir, env)
    assert "import torch failed: libtorch_cpu.so" in line, log
    assert log.count("Booting worker") <= 4
