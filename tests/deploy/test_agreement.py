"""The manifests agree with the code they deploy: probe paths are routes of the app, env names are
settings, ports and user ids are the Dockerfiles', image names are docker-compose.yml's, volume
paths are where the images and compose put the model repository and the data."""
from __future__ import annotations

import math

import pytest

from inference.settings import Settings
from tests.deploy.manifests import (ENV_NAMES, OVERLAYS, ROOT, SETTINGS, compose_images, container,
                                    dockerfile_facts, dockerfile_stage, env, gunicorn_setting,
                                    mounts, one, overlay)

RUNTIME = dockerfile_facts(dockerfile_stage(ROOT / "Dockerfile", "runtime"))
TRAINER = dockerfile_facts(dockerfile_stage(ROOT / "Dockerfile", "trainer"))
GPU = dockerfile_facts(dockerfile_stage(ROOT / "docker" / "gpu.Dockerfile", None))


def api(name: str) -> tuple[dict, dict]:
    """The API Deployment's pod spec and its `api` container."""
    spec = one(overlay(name), "Deployment")["spec"]["template"]["spec"]
    return spec, container(spec, "api")


@pytest.fixture(scope="module")
def routes() -> set[str]:
    from tests.conftest import serving_app

    return {r.rule for r in serving_app(load=False).url_map.iter_rules()}


@pytest.mark.parametrize("name", OVERLAYS)
def test_probes_ask_the_apps_health_routes_on_its_port(name, routes):
    spec, c = api(name)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] in routes, probe
        assert c[probe]["httpGet"]["port"] == "http", probe
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("http", RUNTIME["expose"][0])]


def test_ports_agree_with_the_images_and_the_service():
    _, c = api("cpu")
    assert RUNTIME["expose"] == GPU["expose"] == [int(RUNTIME["env"]["PORT"])]
    assert int(env(c)["PORT"]["value"]) == c["ports"][0]["containerPort"] == RUNTIME["expose"][0]
    service = one(overlay("cpu"), "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    deployment = one(overlay("cpu"), "Deployment")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_env_name_is_a_setting_and_every_value_parses(name):
    _, c = api(name)
    variables = env(c)
    assert set(variables) <= ENV_NAMES
    plain = {k: e["value"] for k, e in variables.items() if "value" in e and k in SETTINGS}
    cpu_limit = c["resources"]["limits"]["cpu"]
    # what the kubelet puts in WEB_CONCURRENCY: limits.cpu / divisor 1, rounded up
    plain["WEB_CONCURRENCY"] = str(math.ceil(float(cpu_limit)))
    settings = Settings.from_env(plain)
    assert settings.web_concurrency * settings.threads_per_worker == math.ceil(float(cpu_limit))


@pytest.mark.parametrize("name", OVERLAYS)
def test_workers_follow_the_cpu_limit(name):
    _, c = api(name)
    ref = env(c)["WEB_CONCURRENCY"]["valueFrom"]["resourceFieldRef"]
    assert (ref["containerName"], ref["resource"], ref["divisor"]) == ("api", "limits.cpu", "1")
    assert env(c)["THREADS_PER_WORKER"]["value"] == "1"
    assert set(c["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])


@pytest.mark.parametrize("name", OVERLAYS)
def test_model_repository_is_the_read_only_pvc_where_the_images_expect_it(name):
    spec, c = api(name)
    repository = env(c)["MODEL_REPOSITORY"]["value"]
    mount, volume = mounts(c, spec)[repository]
    # the images' model folder (MODEL_REPOSITORY once issue 10 lands, MODEL_DIR before)
    for image in (RUNTIME, GPU):
        assert image["env"].get("MODEL_REPOSITORY", image["env"].get("MODEL_DIR")) == repository
    assert repository == "/models"
    assert "/models" in RUNTIME["dirs"][0].split() and "/models" in GPU["dirs"][0].split()
    assert mount["readOnly"] and volume["persistentVolumeClaim"]["readOnly"]
    job = one(overlay(name), "Job")["spec"]["template"]["spec"]
    train_mount, train_volume = mounts(container(job, "train"), job)[repository]
    assert train_volume["persistentVolumeClaim"]["claimName"] == \
        volume["persistentVolumeClaim"]["claimName"]
    assert not train_mount.get("readOnly")
    assert one(overlay(name), "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])


def test_compose_mounts_the_same_paths():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "models:/models:ro" in services["api"]["volumes"]
    assert "models:/models" in services["train"]["volumes"]
    assert any(str(v).endswith(":/data${FASHION_MNIST_DIR:+:ro}") for v in services["train"]["volumes"])


def test_training_job_publishes_into_the_repository():
    from training import cli

    job = one(overlay("cpu"), "Job")["spec"]["template"]["spec"]
    c = container(job, "train")
    assert c["command"] == ["python", "-m", "training"]
    args = list(c["args"])
    assert args[args.index("--publish") + 1] == "/models"
    assert args[args.index("--data-dir") + 1] in mounts(c, job)
    assert {"/models", "/data"} <= set(TRAINER["dirs"][0].split())
    config = cli.parse_args(args)  # a flag the CLI does not know exits here
    assert config.force and not config.progress


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_run_unprivileged_on_a_read_only_root(name):
    objects = overlay(name)
    for kind in ("Deployment", "Job"):
        spec = one(objects, kind)["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] and pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["runAsUser"] == RUNTIME["uid"] == TRAINER["uid"] == GPU["uid"] == 10001
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert "/tmp" in mounts(c, spec) or c["name"] == "wait-for-model", c["name"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_gunicorn_gets_writable_memory_for_heartbeats_and_metrics(name):
    spec, c = api(name)
    assert '"/dev/shm"' in (ROOT / "gunicorn.conf.py").read_text()
    _, volume = mounts(c, spec)["/dev/shm"]
    assert volume["emptyDir"]["medium"] == "Memory"
    _, tmp = mounts(c, spec)["/tmp"]
    assert "emptyDir" in tmp


def test_termination_waits_for_gunicorns_drain():
    spec, c = api("cpu")
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + gunicorn_setting("graceful_timeout", env)


def test_prometheus_scrapes_the_metrics_route(routes):
    template = one(overlay("cpu"), "Deployment")["spec"]["template"]
    notes = template["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/path"] in routes
    assert int(notes["prometheus.io/port"]) == container(template["spec"], "api")["ports"][0]["containerPort"]


def test_autoscaler_and_disruption_budget_target_the_api():
    objects = overlay("cpu")
    deployment = one(objects, "Deployment")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["minReplicas"] >= 2  # so the budget below leaves one pod serving
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["selector"] == deployment["spec"]["selector"]


def test_image_names_are_composes():
    images = compose_images()
    cpu, gpu = overlay("cpu"), overlay("gpu")
    assert api("cpu")[1]["image"] == images["api"]
    assert api("gpu")[1]["image"] == images["api-gpu"]
    for objects in (cpu, gpu):
        job = one(objects, "Job")["spec"]["template"]["spec"]
        assert container(job, "train")["image"] == images["train"]
    init = one(cpu, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == images["api"]


def test_gpu_overlay_asks_for_one_gpu_and_cuda():
    spec, c = api("gpu")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env(c)["DEVICE"]["value"] == GPU["env"]["DEVICE"] == "cuda"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert env(api("cpu")[1])["DEVICE"]["value"] == "cpu"
