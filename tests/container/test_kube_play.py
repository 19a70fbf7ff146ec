"""deploy/k8s for real: the cpu overlay's training Job and API Deployment run with `podman kube play`
on the images compose builds; the API pod becomes ready and predicts what onnxruntime predicts.

Runs when CI is set or RUN_CONTAINER_TESTS=1, with podman (../shared/containers). What this
podman (4.3) lacks is adapted in `for_podman` below, each with its reason; everything else (the
security context, read-only root, resource limits and the WEB_CONCURRENCY they give, volumes,
probes' routes, init container) runs as rendered.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from tests.container.compose_cli import Project
from tests.container.predictions import assert_serves_like_onnxruntime
from tests.container.test_compose_up import _free_port, engine, wait_ready  # noqa: F401 (fixture)
from tests.deploy.manifests import DEPLOY, container, kustomize_text

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1500)]

BUILD_TIMEOUT = 1200  # a cold build installs torch; cached, seconds
N_IMAGES = 16


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def kustomization(folder: Path, suffix: str, tag: str, port: int) -> str:
    """The cpu overlay with this test's names, image tags and a host port."""
    overlay = os.path.relpath(DEPLOY / "k8s" / "overlays" / "cpu", folder)  # kustomize wants relative
    return f"""\
resources: [{overlay}]
nameSuffix: "-{suffix}"  # quoted: a suffix of digits (or 1e5...) would read as a number
images:
  - {{name: fashion-mnist-api, newTag: {tag}}}
  - {{name: fashion-mnist-trainer, newTag: {tag}}}
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: fashion-mnist-api}}
      spec:
        template:
          spec:
            containers:
              - name: api
                ports:
                  - {{name: http, containerPort: 8000, hostPort: {port}, hostIP: 127.0.0.1}}
  - target: {{kind: Job}}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [--publish, /models, --data-dir, /data, --no-progress, --force,
                --epochs, "3", --batch-size, "64", --seed, "0"]
"""


def for_podman(objects: list[dict], scratch: Path, data_dir: Path) -> dict[str, dict]:
    """The rendered objects as podman 4.3's kube play takes them, by kind."""
    by_kind = {o["kind"]: o for o in objects if o["kind"] != "PersistentVolumeClaim"}
    job = by_kind.pop("Job")
    # No Job kind in this podman: its pod template runs as a Pod (restartPolicy Never).
    by_kind["Pod"] = {"apiVersion": "v1", "kind": "Pod", "metadata": job["metadata"],
                      "spec": job["spec"]["template"]["spec"]}
    pods = {"train": by_kind["Pod"]["spec"], "api": by_kind["Deployment"]["spec"]["template"]["spec"]}
    for pod_name, pod in pods.items():
        for volume in pod["volumes"]:
            name = volume["name"]
            if "emptyDir" in volume:
                # podman 4.3 makes an emptyDir a volume named after it, shared by every pod and
                # root-owned 0755; Kubernetes gives each pod a fresh directory, mode 0777.
                path = scratch / f"{pod_name}-{name}"
                path.mkdir()
                path.chmod(0o1777)
                volume.clear()
                volume.update(name=name, hostPath={"path": str(path), "type": "Directory"})
            elif volume["persistentVolumeClaim"]["claimName"].startswith("fashion-mnist-data"):
                # the real sample in place of the data PVC (which a cluster fills by download)
                volume.clear()
                volume.update(name=name, hostPath={"path": str(data_dir), "type": "Directory"})
    # podman 4.3 races its removal of a finished init container ("cannot remove container ... as
    # it is running"): the fixture runs the init container's command itself, before the pod.
    by_kind["InitContainer"] = pods["api"].pop("initContainers")[0]
    models = next(o for o in objects if o["kind"] == "PersistentVolumeClaim"
                  and o["metadata"]["name"].startswith("fashion-mnist-models"))
    return {"PersistentVolumeClaim": models, **by_kind}


@pytest.fixture(scope="module")
def played(engine, fmnist_dir, tmp_path_factory):  # noqa: F811 (the engine fixture)
    """Build the images with compose, play the training pod into the PVC, then the API."""
    suffix = uuid.uuid4().hex[:8]
    tag = f"k8s-test-{suffix}"
    scratch = tmp_path_factory.mktemp("kube-play")
    port = _free_port()
    files: dict[str, Path] = {}
    Project(engine, f"fmnist-k8s-{suffix}", {}).compose("build", "train", "api",
                                                        timeout=BUILD_TIMEOUT)
    # Our own tags at once: other checkouts on this machine build the same `latest` names.
    for image in ("fashion-mnist-api", "fashion-mnist-trainer"):
        podman("tag", f"{image}:latest", f"{image}:{tag}")
    try:
        (scratch / "kustomization.yaml").write_text(kustomization(scratch, suffix, tag, port))
        objects = [o for o in yaml.safe_load_all(kustomize_text(scratch)) if o]
        for kind, obj in for_podman(objects, scratch, Path(fmnist_dir).resolve()).items():
            # (the init container is no kube object: its file is only read by the fixture)
            files[kind] = scratch / f"{kind}.yaml"
            files[kind].write_text(yaml.safe_dump(obj))
        volume = files["PersistentVolumeClaim"].read_text().split("name: ")[1].split()[0]

        podman("kube", "play", str(files["PersistentVolumeClaim"]))
        train_pod = yaml.safe_load(files["Pod"].read_text())["metadata"]["name"]
        podman("kube", "play", str(files["Pod"]))
        exit_code = podman("wait", f"{train_pod}-train", timeout=600).strip()
        train_log = podman("logs", f"{train_pod}-train")
        assert exit_code == "0", train_log

        # the API pod's init container: with a version in the PVC it lets the pod start at once
        init = yaml.safe_load(files["InitContainer"].read_text())
        waited = time.monotonic()
        podman("run", "--rm", "--read-only", "--user", "10001", "-v", f"{volume}:/models:ro",
               init["image"], *init["command"], timeout=60)
        assert time.monotonic() - waited < 30

        start = time.monotonic()
        podman("kube", "play", str(files["Deployment"]))
        base_url = f"http://127.0.0.1:{port}"
        seconds = wait_ready(base_url)
        print(f"\npodman kube play (Deployment) -> /readyz 200: {time.monotonic() - start:.1f}s "
              f"(polling alone: {seconds:.1f}s)")
        api_pod = f"{yaml.safe_load(files['Deployment'].read_text())['metadata']['name']}-pod-0"
        mountpoint = Path(podman("volume", "inspect", "-f", "{{.Mountpoint}}", volume).strip())
        yield {"url": base_url, "train_log": train_log, "api": f"{api_pod}-api",
               "models": mountpoint, "deployment": yaml.safe_load(files["Deployment"].read_text())}
    finally:
        for kind in ("Deployment", "Pod"):
            if kind in files:
                podman("kube", "down", str(files[kind]), check=False, timeout=120)
        if "PersistentVolumeClaim" in files:
            podman("volume", "rm", "-f", volume, check=False)
        for image in ("fashion-mnist-api", "fashion-mnist-trainer"):
            podman("rmi", f"{image}:{tag}", check=False)


def test_training_pod_publishes_a_version_into_the_pvc(played):
    assert "wrote /models/1" in played["train_log"]
    card = json.loads((played["models"] / "1" / "model.json").read_text())
    served = requests.get(f"{played['url']}/readyz", timeout=5).json()
    assert served["model_version"] == card["version"]


def test_api_pod_predicts_what_onnxruntime_predicts(played, fmnist_dir):
    assert_serves_like_onnxruntime(played["url"], played["models"] / "1", fmnist_dir, N_IMAGES)


def test_api_pod_runs_as_rendered(played):
    """Unprivileged, read-only root, and gunicorn's workers from the CPU limit (2)."""
    probe = ("import os\n"
             "try:\n    open('/app/written', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
             "print(os.getuid(), os.environ['WEB_CONCURRENCY'])")
    out = podman("exec", played["api"], "python", "-c", probe).split()
    api = container(played["deployment"]["spec"]["template"]["spec"], "api")
    limit = api["resources"]["limits"]["cpu"]
    assert out == ["30", "10001", str(int(limit))]  # 30: EROFS
    assert requests.get(f"{played['url']}/healthz", timeout=5).status_code == 200
