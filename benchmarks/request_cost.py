"""The CPU time one /predict request costs a gunicorn worker, for the most expensive requests the
default limits admit (MAX_UPLOAD_MB, MAX_BATCH, MAX_REQUEST_PIXELS, REQUEST_TIMEOUT_S): big
canvases that compress to a few KB, so only the pixel budget and the deadline bound them.

    .venv/bin/python benchmarks/request_cost.py [--model-dir artifacts] [--env KEY=VALUE ...]

Worker CPU is read from /proc/<worker>/stat (user + system) around each request; one worker.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import start_gunicorn  # noqa: E402
from tests.reliability.harness import gradient_png  # noqa: E402

CASES = [  # (label, side, count)
    ("1 x 50 MP (the per-image cap)", 7071, 1),
    ("4 x 25 MP", 5000, 4),
    ("256 x 0.39 MP (MAX_BATCH)", 625, 256),
    ("8 x 25 MP (over the pixel budget)", 5000, 8),
]


def cpu_seconds(pid: int) -> float:
    """The process's CPU seconds: the nanosecond run times of its threads (/proc/PID/task/*/schedstat;
    gunicorn's gthread pool threads live as long as the worker), else utime + stime in 10 ms ticks."""
    try:
        return sum(int((task / "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--env", action="append", default=[], help="a setting for gunicorn, KEY=VALUE")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    server = start_gunicorn(args.model_dir, Path(tempfile.mkdtemp()) / "gunicorn.log", workers=1, env=env)
    try:
        worker = server.worker_pids()[0]
        print(f"settings: {env or 'defaults'}")
        print("| request | body KB | status | worker CPU s | wall s |")
        print("| --- | ---: | --- | ---: | ---: |")
        for label, side, count in CASES:
            image = gradient_png(side)
            files = [("image", (f"{i}.png", image, "image/png")) for i in range(count)]
            before, started = cpu_seconds(worker), time.monotonic()
            response = requests.post(f"{server.url}/predict", files=files, timeout=600)
            wall, cpu = time.monotonic() - started, cpu_seconds(worker) - before
            code = response.json()["error"]["code"] if response.status_code != 200 else "ok"
            print(f"| {label} | {len(image) * count // 1024} | {response.status_code} {code} | "
                  f"{cpu:.2f} | {wall:.2f} |", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
