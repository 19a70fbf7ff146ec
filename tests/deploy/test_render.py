"""Each overlay renders with kubectl's kustomize, and every object is valid Kubernetes (strict:
unknown fields rejected) for the versions in KUBERNETES_VERSIONS, offline (kubernetes-validate).

KServe's kinds are CRDs, which kubernetes-validate has no schema for: their pod parts (the
runtime's container and volumes) are validated as a core/v1 Pod; the KServe fields themselves are
checked by name in test_kserve.py against KServe's v1beta1/v1alpha1 API types."""
from __future__ import annotations

import copy
import os
import re

import kubernetes_validate
import pytest

from tests.deploy.manifests import (DEPLOY, KUBERNETES_VERSIONS, OVERLAYS, kserve, kustomize_text,
                                    one, overlay, render)

EXPECTED_KINDS = {"PersistentVolumeClaim", "Job", "Deployment", "Service",
                  "HorizontalPodAutoscaler", "PodDisruptionBudget"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "InferenceService", "ServingRuntime"}


def validate(obj: dict, version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} (Kubernetes {version}): "
                             f"{'.'.join(map(str, e.path))}: {e.message}") from None


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_renders_every_kind(name):
    objects = overlay(name)
    assert {o["kind"] for o in objects} == EXPECTED_KINDS
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "fashion-mnist"
               for o in objects)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_objects_are_valid_kubernetes(name, version):
    for obj in overlay(name):
        validate(obj, version)


def test_validation_rejects_a_misspelt_field():
    """The check above can fail: strict validation catches a typo a cluster would also refuse."""
    deployment = copy.deepcopy(one(overlay("cpu"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(AssertionError, match="readinesProbe"):
        validate(deployment, KUBERNETES_VERSIONS[0])


def test_servicemonitor_component_renders_with_an_overlay(tmp_path):
    # kustomize takes other roots by relative path only
    k8s = os.path.relpath(DEPLOY / "k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n- {k8s}/overlays/cpu\ncomponents:\n- {k8s}/components/servicemonitor\n")
    objects = render(tmp_path)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_prometheusrule_alerts_on_metrics_the_app_exports(tmp_path):
    from app import metrics

    k8s = os.path.relpath(DEPLOY / "k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n- {k8s}/overlays/cpu\ncomponents:\n- {k8s}/components/servicemonitor\n")
    rule = one(render(tmp_path), "PrometheusRule")
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    exported = {metrics.FLAGGED._name + "_total", metrics.OOD_SCORE._name + "_count",
                metrics.OOD_SCORE._name + "_bucket", metrics.CONFIDENCE._name + "_bucket"}
    used = set(re.findall(r"[a-z_]+(?=\[)", exprs))
    assert used and used <= exported


def test_kserve_renders():
    assert {o["kind"] for o in kserve()} == {"InferenceService", "ServingRuntime"}
    assert "serving.kserve.io/v1beta1" in kustomize_text(DEPLOY / "kserve")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kserve_pod_parts_are_valid_kubernetes(version):
    runtime = one(kserve(), "ServingRuntime")["spec"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kserve-predictor"},
           "spec": {"containers": runtime["containers"], "volumes": runtime["volumes"]}}
    validate(pod, version)
