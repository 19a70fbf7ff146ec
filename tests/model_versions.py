"""Build model repositories for tests from one trained model folder: version folders that are real,
distinct models (their own model.onnx bytes, sha256 and version id) or broken on purpose."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def add_version(source: Path, repository: Path, number: int, tag: str | None = None) -> Path:
    """Copy `source` into `repository/<number>` the way a publisher does (a staging folder, then one
    rename). With `tag`, model.onnx gets it as its doc string: the same weights in a file of its
    own, so its sha256 and version id differ from the source's."""
    repository.mkdir(parents=True, exist_ok=True)
    staging = repository / f".staging-{number}"
    shutil.copytree(source, staging)
    if tag is not None:
        import onnx

        model = onnx.load(str(staging / "model.onnx"))
        model.doc_string = tag
        onnx.save(model, str(staging / "model.onnx"))
        meta = json.loads((staging / "model.json").read_text())
        sha = hashlib.sha256((staging / "model.onnx").read_bytes()).hexdigest()
        meta["sha256"]["model.onnx"], meta["version"] = sha, sha[:12]
        (staging / "model.json").write_text(json.dumps(meta))
    target = repository / str(number)
    os.rename(staging, target)
    return target


def version_id(folder: Path) -> str:
    return json.loads((folder / "model.json").read_text())["version"]


def break_version(folder: Path) -> None:
    """model.onnx no longer matches the sha256 that model.json vouches for."""
    (folder / "model.onnx").write_bytes(b"half a model")
