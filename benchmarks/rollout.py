"""A model version rolled out under load: failed requests, time until it serves, latency meanwhile.

A real gunicorn (gunicorn.conf.py, 2 workers) serves a model repository holding version 1; client
threads post one real test PNG in a loop. After a steady phase, version 2 is published the way
`python -m training --publish` does it (a staging folder, then one rename). Printed: requests and
failures, p50/p99 latency in the steady phase and in the switch (from publishing until every
worker answers from version 2), and the time from publishing to the first and to the last worker
answering from version 2.

    .venv/bin/python benchmarks/rollout.py --model-dir artifacts [--poll 5] [--clients 8]
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.model_versions import add_version, version_id  # noqa: E402  (a distinct, valid model)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png() -> bytes:
    data = os.environ.get("FASHION_MNIST_DIR")
    if data:
        from training.data import load_idx

        pixels = load_idx(next(Path(data).glob("**/t10k-images-idx3-ubyte*")), 3)[0]
    else:
        pixels = (np.arange(784).reshape(28, 28) % 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts", help="a trained model folder")
    parser.add_argument("--poll", type=float, default=5.0, help="MODEL_POLL_SECONDS (default: 5, the default)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default: 8)")
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of steady load first (default: 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        one = version_id(add_version(args.model_dir, repo, 1, tag="rollout-1"))
        port = _free_port()
        log = open(Path(scratch) / "gunicorn.log", "w")
        env = {**os.environ, "MODEL_REPOSITORY": str(repo), "PORT": str(port), "WEB_CONCURRENCY": "2",
               "MODEL_POLL_SECONDS": str(args.poll), "LOG_LEVEL": "warning"}
        server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            answers: list[tuple[float, float, int, str | None]] = []  # (sent, seconds, status, version)
            stop = threading.Event()
            body = _png()

            def client() -> None:
                session = requests.Session()
                while not stop.is_set():
                    sent = time.monotonic()
                    try:
                        r = session.post(f"{url}/predict", data=body, headers={"Content-Type": "image/png"},
                                         timeout=30)
                        answers.append((sent, time.monotonic() - sent, r.status_code,
                                        r.headers.get("X-Model-Version")))
                    except requests.RequestException:
                        answers.append((sent, time.monotonic() - sent, 0, None))

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            time.sleep(args.steady)
            published = time.monotonic()
            two = version_id(add_version(args.model_dir, repo, 2, tag="rollout-2"))
            all_new_at = None
            while time.monotonic() - published < args.poll * 3 + 30:
                recent = [v for sent, _, _, v in list(answers) if sent > time.monotonic() - 0.5]
                if recent and set(recent) == {two}:
                    # every answer of the last half second came from version 2: both workers switched
                    all_new_at = max(sent for sent, _, _, v in list(answers) if v == one)
                    break
                time.sleep(0.05)
            time.sleep(1.0)
            stop.set()
            for thread in threads:
                thread.join(30)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            log.close()

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(np.array(values) * 1000, q)) if values else float("nan")

    steady = [s for sent, s, _, _ in answers if published - args.steady + 1 <= sent < published]
    switch_end = all_new_at if all_new_at is not None else answers[-1][0]
    switching = [s for sent, s, _, _ in answers if published <= sent <= switch_end]
    failures = sum(1 for _, _, status, _ in answers if status != 200)
    first_two = min((sent for sent, _, _, v in answers if v == two), default=float("nan"))
    print(f"requests {len(answers)}, failed {failures}, versions seen {sorted({v for *_, v in answers if v})}")
    print(f"steady:  {len(steady)} requests, p50 {pct(steady, 50):.2f} ms, p99 {pct(steady, 99):.2f} ms")
    print(f"switch:  {len(switching)} requests, p50 {pct(switching, 50):.2f} ms, p99 {pct(switching, 99):.2f} ms")
    print(f"version 2 first answered {first_two - published:.2f} s after it appeared; "
          f"last answer from version 1 {switch_end - published:.2f} s after (MODEL_POLL_SECONDS={args.poll:g})")
    return 0 if failures == 0 and all_new_at is not None else 1


if __name__ == "__main__":
    sys.exit(main())
