"""The multi-process metrics: workers' files and the archive of exited workers sum exactly."""
from __future__ import annotations

import os
import re

from app.metrics_store import MetricsStore, archive_worker


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_counts_from_all_workers_and_exited_ones_add_up(tmp_path):
    store = MetricsStore(tmp_path)
    store.inc("http_requests_total", {"route": "/predict", "method": "POST", "status": "200"}, 3)
    store.observe("http_request_duration_seconds", {"route": "/predict"}, 0.003)
    store.flush()
    # Two siblings that already exited: their files were written under their own pids.
    for pid, count in ((111, 5), (222, 7)):
        (tmp_path / f"{pid}.json").write_text(
            '{"http_requests_total{route=\\"/predict\\",method=\\"POST\\",status=\\"200\\"}": %d}' % count)
    archive_worker(tmp_path, 111)
    archive_worker(tmp_path, 222)
    archive_worker(tmp_path, 333)  # a worker that died before its first request: nothing to fold
    assert {p.name for p in tmp_path.glob("*.json")} == {"archive.json", f"{os.getpid()}.json"}
    text = store.render()
    assert _value(text, 'http_requests_total{route="/predict",method="POST",status="200"}') == 15
    assert _value(text, 'http_request_duration_seconds_bucket{route="/predict",le="0.001"}') == 0
    assert _value(text, 'http_request_duration_seconds_bucket{route="/predict",le="0.005"}') == 1
    assert _value(text, 'http_request_duration_seconds_sum{route="/predict"}') == 0.003


def test_exposition_groups_families_with_help_and_type():
    store = MetricsStore()
    store.inc("predictions_total", {"label": 'T-shirt/"top"'})
    store.observe("http_request_duration_seconds", {"route": "/x"}, 0.2)
    text = store.render()
    assert 'predictions_total{label="T-shirt/\\"top\\""} 1' in text
    lines = text.splitlines()
    start = lines.index("# TYPE http_request_duration_seconds histogram")
    buckets = [line for line in lines[start:] if "_bucket" in line]
    bounds = [re.search(r'le="([^"]+)"', line).group(1) for line in buckets]
    assert bounds[-1] == "+Inf" and [float(b) for b in bounds[:-1]] == sorted(float(b) for b in bounds[:-1])
    assert all(line.startswith("#") or " " in line for line in lines)


def test_one_update_counts_as_the_separate_calls():
    separate, together = MetricsStore(), MetricsStore()
    separate.inc("predictions_total", {"label": "Bag"})
    separate.inc("predict_stage_seconds_total", {"stage": "model"}, 0.25)
    separate.observe("http_request_duration_seconds", {"route": "/predict"}, 0.02)
    together.update([("predictions_total", {"label": "Bag"}, 1.0),
                     ("predict_stage_seconds_total", {"stage": "model"}, 0.25)],
                    [("http_request_duration_seconds", {"route": "/predict"}, 0.02)])
    assert together.samples == separate.samples
    assert together.samples['http_request_duration_seconds_bucket{route="/predict",le="0.01"}'] == 0
    assert together.samples['http_request_duration_seconds_bucket{route="/predict",le="0.025"}'] == 1
