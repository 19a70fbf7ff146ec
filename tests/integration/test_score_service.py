"""The batch scorer and the HTTP service give the same predictions for the same images: local
scoring against a real gunicorn on a free port, and the scorer's --url mode through that service,
which has API keys: the scorer sends $API_KEY."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from PIL import Image

from scorer.cli import main
from tests.scorer.samples import CLASSES, real_sample, write_class_folders, write_idx_pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "scorer-key"


@pytest.fixture(scope="module")
def service_url(trained_model_dir, tmp_path_factory):
    """gunicorn with the app's own config, two workers, MAX_BATCH small enough to make the scorer
    split its batches."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MODEL_DIR": str(trained_model_dir), "PORT": str(port), "WEB_CONCURRENCY": "2",
           "MAX_BATCH": "16", "DEVICE": "cpu", "LOG_LEVEL": "warning", "API_KEYS": KEY, "HOST": "127.0.0.1"}
    log = (tmp_path_factory.mktemp("gunicorn") / "log").open("w+")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                pass
            time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail(f"gunicorn did not become ready:\n{log.read()}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def images_folder(tmp_path_factory, fmnist_dir):
    """40 real images as PNG and BMP in class folders, one of them large RGB with a light
    background (the service and the scorer must both invert and shrink it), and one broken file."""
    images, labels = real_sample(fmnist_dir, 40)
    root = tmp_path_factory.mktemp("service-images")
    paths = write_class_folders(root, images, labels, formats=("png", "bmp"))
    big = Image.fromarray(255 - images[0]).resize((300, 300), Image.Resampling.BICUBIC).convert("RGB")
    big.save(paths[0].with_suffix(".jpg"), quality=90)
    (root / "bag" / "broken.png").write_bytes(b"\x89PNG but not really")
    return root


def read_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_local_scoring_matches_the_service(tmp_path, images_folder, trained_model_dir, service_url):
    out = tmp_path / "local.jsonl"
    assert main([str(images_folder), "--out", str(out), "--model-dir", str(trained_model_dir),
                 "--workers", "2", "--batch-size", "8"]) == 0
    rows = read_rows(out)
    assert len(rows) == 42
    for row in rows:
        with open(row["source"], "rb") as handle:
            answer = requests.post(service_url + "/predict", files={"image": handle}, timeout=30,
                                   headers={"Authorization": f"Bearer {KEY}"})
        if "error" in row:
            served = answer.json()["error"]["message"]
            assert answer.status_code == 400 and row["error"].split(":")[0] == served.split(":")[0]
            continue
        assert answer.status_code == 200, answer.text
        served = answer.json()
        assert (served["label"], served["class_index"]) == (row["label"], row["class_index"])
        for name in CLASSES:
            assert served["probabilities"][name] == pytest.approx(row["probabilities"][name], rel=1e-5, abs=1e-7)


def test_url_mode_gives_the_same_rows(tmp_path, images_folder, fmnist_dir, trained_model_dir, service_url,
                                      monkeypatch):
    """Files go up as multipart (batches of 32 split to the service's MAX_BATCH of 16, the broken
    file isolated), arrays as JSON pixels; the rows equal local scoring's."""
    images, labels = real_sample(fmnist_dir, 50)
    idx = write_idx_pair(tmp_path / "idx", images, labels)
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    inputs = [str(images_folder), str(idx)]
    assert main([*inputs, "--out", str(local), "--model-dir", str(trained_model_dir), "--batch-size", "32"]) == 0
    monkeypatch.setenv("API_KEY", KEY)
    assert main([*inputs, "--out", str(remote), "--url", service_url, "--batch-size", "32"]) == 0
    local_rows, remote_rows = read_rows(local), read_rows(remote)
    assert len(remote_rows) == len(local_rows) == 42 + 50
    for mine, theirs in zip(local_rows, remote_rows):
        assert mine.keys() == theirs.keys() and mine["source"] == theirs["source"]
        assert mine["model_version"] == theirs["model_version"]  # the service's answer names it
        if "error" in mine:
            assert "not a readable image" in theirs["error"]
            continue
        assert mine["label"] == theirs["label"] and mine.get("true_label") == theirs.get("true_label")
        assert np.allclose([mine["probabilities"][c] for c in CLASSES],
                           [theirs["probabilities"][c] for c in CLASSES], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("key", [None, "wrong"])
def test_url_mode_without_the_key_stops_with_one_line(tmp_path, images_folder, service_url, monkeypatch, capsys, key):
    if key is None:
        monkeypatch.delenv("API_KEY", raising=False)
    else:
        monkeypatch.setenv("API_KEY", key)
    assert main([str(images_folder), "--out", str(tmp_path / "x.csv"), "--url", service_url]) == 2
    err = capsys.readouterr().err
    assert ("needs an API key: set API_KEY" if key is None else "did not accept the key in API_KEY") in err
    assert KEY not in err and not (tmp_path / "x.csv").exists()


def test_url_mode_with_no_service(tmp_path, images_folder, free_port, capsys):
    assert main([str(images_folder), "--out", str(tmp_path / "x.csv"), "--url", f"http://127.0.0.1:{free_port}"]) == 2
    assert "cannot reach" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
