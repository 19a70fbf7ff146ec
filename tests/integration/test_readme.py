"""The README's runnable shell blocks, run verbatim against a real service, so the README cannot rot.

A fenced block whose info string is `sh runnable...` is run with bash (`-e -o pipefail`), exactly
as written, in a fresh copy of the checkout (its tracked and untracked, not ignored files, as a
clone would have them, with `.venv` linked in), so that what the commands write (./artifacts)
never lands in the repository:

- `sh runnable setup`: run first, in document order (README: `make train`);
- `sh runnable server`: started in the background, then waited for until /readyz answers (README:
  `make serve`), stopped with SIGTERM at the end;
- `sh runnable`: run while the service is up, in document order (README and CLIENT_DOCS: curl).

The only environment the test sets is what the docs document: FASHION_MNIST_DIR (the real
sample), PORT (a free port), WEB_CONCURRENCY=2 and GUNICORN_CMD_ARGS (bind to 127.0.0.1 only);
the service's other settings are removed from the environment so the defaults apply. Each client
block must exit 0; JSON it prints must not be an error, and the labels it predicts must be the
classes of the samples/ images it sends.

Not runnable here, and covered elsewhere: `docker compose up` (tests/container/test_compose_up.py,
with CI set or RUN_CONTAINER_TESTS=1), `make install` (CI's fresh clone runs it through `make
test`), `make test` / `make test-fast` (CI itself).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from inference.settings import Settings
from tests.conftest import ROOT
from tests.integration.conftest import free_port
from training.data import CLASSES

README = ROOT / "README.md"
# Pages whose `sh runnable` client blocks also run against the README's service.
CLIENT_DOCS = ("docs/api.md", "docs/api-page.md", "docs/v2-protocol.md", "docs/metrics.md")
_FENCE = re.compile(r"^```sh runnable(?: (setup|server))?[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SAMPLE = re.compile(r"samples/([a-z-]+)\.(?:png|jpg)")
_CLASS_OF_FILE = {label.lower().replace("/", "-").replace(" ", "-"): label for label in CLASSES}
# Variables that would change what the documented commands do, were they set in the test's own
# environment: the service's settings, gunicorn's, and the metrics folder gunicorn.conf.py makes.
_SCRUB = {field.upper() for field in Settings.__dataclass_fields__} | {
    "GUNICORN_CMD_ARGS", "SCRIPT_NAME", "PROMETHEUS_MULTIPROC_DIR", "MAKEFLAGS", "MFLAGS"}


@dataclass
class Block:
    source: str
    line: int
    kind: str  # setup | server | client
    text: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"


def runnable_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [Block(str(path.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1, m.group(1) or "client",
                  m.group(2)) for m in _FENCE.finditer(text)]


def test_readme_marks_its_commands():
    """The markers are there (a README without them would make the test below run nothing)."""
    kinds = [block.kind for block in runnable_blocks(README)]
    assert kinds.count("server") == 1 and "setup" in kinds and "client" in kinds, kinds
    for doc in CLIENT_DOCS:
        blocks = runnable_blocks(ROOT / doc)
        assert blocks and all(block.kind == "client" for block in blocks), (doc, blocks)


def json_values(out: str) -> list:
    """Every JSON value printed one after another (curl prints no newline after a body)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(out) and out[at].isspace():
            at += 1
        if at == len(out):
            return values
        value, at = decoder.raw_decode(out, at)
        values.append(value)


def predicted_labels(value) -> list[str]:
    """Labels in a /predict answer (one object or a batch) or a v2 infer answer."""
    if not isinstance(value, dict):
        return []
    if "label" in value:
        return [value["label"]]
    if "predictions" in value:
        return [p["label"] for p in value["predictions"]]
    return [label for out in value.get("outputs", []) if out.get("name") == "label" for label in out.get("data", [])]


def sample_classes(block: str) -> set[str]:
    return {_CLASS_OF_FILE[name.removeprefix("photo-")] for name in _SAMPLE.findall(block)}


def fresh_copy(target: Path) -> Path:
    """The checkout's files as a clone has them, with the checkout's .venv linked in, as a fresh clone
    is after `make install`: no file newer than the venv, so that make never reinstalls into the
    linked venv (a checkout or merge that rewrote pyproject.toml would otherwise make it try)."""
    marker = ROOT / ".venv" / ".installed"
    assert marker.is_file(), "no .venv made by `make install`: the README's make targets would make one"
    installed = marker.stat().st_mtime
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
            mtime = min(source.stat().st_mtime, installed - 1)
            os.utime(target / name, (mtime, mtime))
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def bash(block: Block, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{block} exited {result.returncode}:\n{block.text}\n{result.stdout}\n{result.stderr}"
    return result


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the block's process group (make, gunicorn and its workers), SIGKILL if it hangs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_readme_commands_run_verbatim(fmnist_dir, tmp_path):
    blocks = runnable_blocks(README)
    clients = [b for b in blocks if b.kind == "client"]
    clients += [b for doc in CLIENT_DOCS for b in runnable_blocks(ROOT / doc)]
    clone = fresh_copy(tmp_path / "clone")
    assert subprocess.run(["make", "-q", ".venv/.installed"], cwd=clone).returncode == 0
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in _SCRUB}
    env.update(FASHION_MNIST_DIR=str(fmnist_dir), PORT=str(port), WEB_CONCURRENCY="2",
               GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}")

    for block in (b for b in blocks if b.kind == "setup"):
        bash(block, clone, env, timeout=300)
    assert (clone / "artifacts" / "model.json").is_file(), "the README's setup trained no model into ./artifacts"

    (server,) = [b for b in blocks if b.kind == "server"]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(["bash", "-c", server.text], cwd=clone, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"{server} exited {process.returncode}:\n{(tmp_path / 'server.log').read_text()}"
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"{server} not ready in 120 s:\n{(tmp_path / 'server.log').read_text()}"
            time.sleep(0.2)

        for block in clients:
            out = bash(block, clone, env, timeout=60).stdout
            values = json_values(out) if out.lstrip().startswith(("{", "[")) else []
            for value in values:
                assert not (isinstance(value, dict) and "error" in value), f"{block} answered an error: {value}"
            labels = [label for value in values for label in predicted_labels(value)]
            if labels and sample_classes(block.text):
                assert set(labels) == sample_classes(block.text), f"{block} predicted {labels}:\n{block.text}"
    finally:
        stop(process)
        log.close()
    assert "INFO inference.model_state: ready:" in (tmp_path / "server.log").read_text()
