"""deploy/kserve: the ServingRuntime runs the API's runtime image as a custom predictor speaking
the Open Inference Protocol (v2), and the InferenceService serves the model repository's PVC."""
from __future__ import annotations

import pytest

from tests.deploy.manifests import (ENV_NAMES, ROOT, compose_images, container, env, kserve, one,
                                    overlay)

# Field names of KServe's API types (pkg/apis/serving: PredictorSpec = PodSpec + ComponentExtensionSpec,
# ModelSpec = modelFormat + runtime + PredictorExtensionSpec) that these manifests use: no CRD schema
# is available offline, so a typo here would only show on a cluster.
PREDICTOR_FIELDS = {"model", "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                    "containerConcurrency", "timeout", "securityContext", "tolerations",
                    "nodeSelector"}
MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "resources", "env"}
RUNTIME_FIELDS = {"supportedModelFormats", "protocolVersions", "containers", "volumes",
                  "annotations", "labels", "nodeSelector", "tolerations"}
KSERVE_MOUNT = "/mnt/models"  # where KServe mounts a storageUri for the predictor container


def test_fields_are_kserve_fields():
    isvc = one(kserve(), "InferenceService")
    runtime = one(kserve(), "ServingRuntime")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert set(isvc["spec"]) == {"predictor"}
    assert set(isvc["spec"]["predictor"]) <= PREDICTOR_FIELDS
    assert set(isvc["spec"]["predictor"]["model"]) <= MODEL_FIELDS
    assert set(runtime["spec"]) <= RUNTIME_FIELDS


def test_inference_service_uses_the_runtime_with_v2_on_the_model_repository():
    isvc = one(kserve(), "InferenceService")
    runtime = one(kserve(), "ServingRuntime")
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["protocolVersion"] == "v2" and runtime["spec"]["protocolVersions"] == ["v2"]
    pvc = one(overlay("cpu"), "PersistentVolumeClaim", "fashion-mnist-models")
    assert model["storageUri"] == f"pvc://{pvc['metadata']['name']}"


def test_predictor_container_is_the_api_image_on_kserves_mount():
    spec = one(kserve(), "ServingRuntime")["spec"]
    c = container(spec, "kserve-container")  # the name KServe looks for in a custom runtime
    assert c["image"] == compose_images()["api"]
    variables = env(c)
    assert set(variables) <= ENV_NAMES
    assert variables["MODEL_REPOSITORY"]["value"] == KSERVE_MOUNT
    assert [p["containerPort"] for p in c["ports"]] == [int(variables["PORT"]["value"])]
    ref = variables["WEB_CONCURRENCY"]["valueFrom"]["resourceFieldRef"]
    assert (ref["containerName"], ref["resource"], ref["divisor"]) == (c["name"], "limits.cpu", "1")
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False


def test_predictor_probes_are_routes_of_the_app():
    from tests.conftest import serving_app

    rules = {r.rule for r in serving_app(load=False).url_map.iter_rules()}
    c = container(one(kserve(), "ServingRuntime")["spec"], "kserve-container")
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] in rules, probe
