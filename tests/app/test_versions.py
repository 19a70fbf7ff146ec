"""A worker's model state over a repository: the newest valid version serves, broken ones are skipped
with their reason, a pin holds, and a poll switches versions while the app keeps answering."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import serving_app
from inference.errors import ModelLoadError
from tests.model_versions import add_version, break_version, version_id


@pytest.fixture()
def repository(trained_model_dir, tmp_path):
    repo = tmp_path / "repo"
    add_version(trained_model_dir, repo, 1, tag="one")
    add_version(trained_model_dir, repo, 2, tag="two")
    return repo


def _app(repo, **settings):
    return serving_app(**{"MODEL_REPOSITORY": repo, "MODEL_POLL_SECONDS": 0, **settings})


def test_newest_version_serves_and_all_are_listed(repository):
    app = _app(repository)
    client = app.test_client()
    ready = client.get("/readyz").get_json()
    assert ready["serving_version"] == 2 and ready["model_version"] == version_id(repository / "2")
    body = client.get("/v1/models/fashion-mnist").get_json()
    assert body["serving_version"] == 2 and body["version"] == version_id(repository / "2")
    assert body["versions"] == [
        {"version": 2, "status": "serving", "model_version": version_id(repository / "2")},
        {"version": 1, "status": "available", "model_version": version_id(repository / "1")}]
    answer = client.post("/predict", json={"image": [0] * 784})
    assert answer.get_json()["model_version"] == answer.headers["X-Model-Version"] == version_id(repository / "2")


def test_a_broken_newest_version_is_skipped_with_its_reason(repository, trained_model_dir, caplog):
    break_version(add_version(trained_model_dir, repository, 3, tag="three"))
    client = _app(repository).test_client()
    assert client.get("/readyz").get_json()["serving_version"] == 2
    assert "model version 3 skipped" in caplog.text and "sha256" in caplog.text
    [three] = [v for v in client.get("/v1/models/fashion-mnist").get_json()["versions"] if v["version"] == 3]
    assert three["status"] == "failed" and "model.onnx: sha256" in three["reason"]


def test_model_version_pins_one_folder(repository):
    client = _app(repository, MODEL_VERSION=1).test_client()
    assert client.get("/readyz").get_json()["serving_version"] == 1
    rows = client.get("/v1/models/fashion-mnist").get_json()["versions"]
    assert rows[0] == {"version": 2, "status": "available", "model_version": version_id(repository / "2"),
                       "note": "not served: MODEL_VERSION=1"}


def test_refresh_rolls_out_a_new_version_and_back(repository, trained_model_dir):
    app = _app(repository)
    state, client = app.extensions["model_state"], app.test_client()
    add_version(trained_model_dir, repository, 3, tag="three")
    assert state.refresh() and client.get("/readyz").get_json()["serving_version"] == 3
    shutil.rmtree(repository / "3")  # rollback: remove the bad one
    assert state.refresh() and client.get("/readyz").get_json()["serving_version"] == 2


def test_a_failed_version_is_retried_only_when_its_files_change(repository, trained_model_dir):
    app = _app(repository)
    state = app.extensions["model_state"]
    folder = add_version(trained_model_dir, repository, 3, tag="three")
    good = (folder / "model.onnx").read_bytes()
    break_version(folder)
    state.refresh()
    assert state.serving.number == 2 and 3 in state.failures
    reason = state.failures[3]
    state.refresh()
    assert state.failures[3] is reason  # same files: not loaded again
    (folder / "model.onnx").write_bytes(good)  # the copy finished
    state.refresh()
    assert state.serving.number == 3 and 3 not in state.failures


def test_a_request_keeps_the_predictor_it_started_with(repository, trained_model_dir):
    app = _app(repository)
    with app.test_request_context("/predict", method="POST"):
        from app.context import ready_predictor

        first = ready_predictor()
        add_version(trained_model_dir, repository, 3, tag="three")
        app.extensions["model_state"].refresh()
        assert ready_predictor() is first and first.number == 2
    assert app.extensions["model_state"].predictor.number == 3


def test_no_valid_version_fails_the_first_boot_with_every_reason(repository):
    for number in (1, 2):
        break_version(repository / str(number))
    with pytest.raises(ModelLoadError, match=r"no valid model version: version 2: .*sha256.*version 1: .*sha256"):
        _app(repository)


def test_a_replacement_worker_stays_up_not_ready_until_a_version_is_valid(repository, trained_model_dir):
    for number in (1, 2):
        break_version(repository / str(number))
    app = _app(repository, required=False)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.post("/predict", json={"image": [0] * 784}).status_code == 503
    add_version(trained_model_dir, repository, 3)
    assert app.extensions["model_state"].refresh()
    assert client.get("/readyz").get_json()["serving_version"] == 3


def test_the_poll_thread_picks_up_a_new_version(repository, trained_model_dir):
    import time

    app = _app(repository, MODEL_POLL_SECONDS=0.05)
    add_version(trained_model_dir, repository, 3, tag="three")
    deadline = time.monotonic() + 10
    while app.extensions["model_state"].predictor.number != 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.extensions["model_state"].predictor.number == 3


def test_v2_names_repository_versions_and_metrics_show_the_serving_one(repository, trained_model_dir):
    from tests.prometheus_text import samples, value

    app = _app(repository)
    client = app.test_client()
    meta = client.get("/v2/models/fashion-mnist").get_json()
    assert meta["versions"] == ["2"]
    assert client.get("/v2/models/fashion-mnist/versions/2/ready").status_code == 200
    assert client.get("/v2/models/fashion-mnist/versions/1/ready").status_code == 404
    break_version(add_version(trained_model_dir, repository, 3, tag="three"))
    add_version(trained_model_dir, repository, 4, tag="four")
    app.extensions["model_state"].refresh()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "model_serving_info", version="4", model_version=version_id(repository / "4")) == 1
    assert value(found, "model_serving_info", version="2", model_version=version_id(repository / "2")) == 0
    assert value(found, "model_load_failures_total", version="3") >= 1
    assert client.get("/v2/models/fashion-mnist").get_json()["versions"] == ["4"]
