"""ModelState without any HTTP: the first load, a switch to a new version with its callbacks, a
broken version skipped until its files change, and a start that may not be required."""
from __future__ import annotations

import pytest

from inference.errors import ModelLoadError
from inference.model_state import ModelState
from inference.settings import Settings
from tests.model_versions import add_version, break_version, version_id


def state_over(repository, switches, failures, **env) -> ModelState:
    settings = Settings.from_env({"MODEL_REPOSITORY": str(repository), "MODEL_POLL_SECONDS": "0", **env})
    return ModelState(settings, on_serving=lambda old, new: switches.append((old and old.number, new.number)),
                      on_failure=failures.append)


def test_a_switch_and_a_failure_reach_their_callbacks(trained_model_dir, tmp_path):
    repository, switches, failures = tmp_path / "repo", [], []
    add_version(trained_model_dir, repository, 1, tag="one")
    state = state_over(repository, switches, failures)
    state.start()
    assert state.predictor.number == 1 and switches == [(None, 1)]
    add_version(trained_model_dir, repository, 2, tag="two")
    break_version(add_version(trained_model_dir, repository, 3, tag="three"))
    assert state.refresh()
    assert state.predictor.version == version_id(repository / "2") and switches[-1] == (1, 2)
    assert failures == [3]
    state.refresh()  # the broken version is not retried while its files stay the same
    assert failures == [3]
    assert [row["status"] for row in state.statuses()] == ["failed", "serving", "available"]


def test_a_start_that_is_not_required_stays_up_without_a_model(tmp_path):
    switches, failures = [], []
    state = state_over(tmp_path / "empty", switches, failures)
    with pytest.raises(ModelLoadError, match="model file not found"):
        state.start()
    state.start(required=False)
    assert state.predictor is None and switches == []
