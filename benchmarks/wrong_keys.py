"""Keyed clients beside clients hammering with a wrong key (issue 23): does a flood of 401s slow the
callers with a valid key?

gunicorn is started as documented (`gunicorn -c gunicorn.conf.py`, 2 workers, API_KEYS set); for
each number of wrong-key clients (0, then 50 by default), each POSTing to /predict back to back in a
separate process, `--clients` keyed clients POST a 28x28 PNG to /predict back to back: requests,
failures, p50/p99/max in ms, and the 401s the server answered meanwhile (from /metrics).

    .venv/bin/python benchmarks/wrong_keys.py --model-dir artifacts [--seconds 8] [--wrong 0,50]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import start_gunicorn  # noqa: E402
from tests.reliability.harness import WrongKeyClients, normal_load  # noqa: E402

KEY = "benchmark-key"


def unauthorized(url: str) -> int:
    text = requests.get(f"{url}/metrics", headers={"X-API-Key": KEY}, timeout=10).text
    return int(sum(float(v) for v in re.findall(r'^http_requests_total\{[^}]*status="401"[^}]*\} (\S+)$', text, re.M)))


def measure(url: str, wrong: list[int], seconds: float, clients: int) -> list[dict]:
    rows = []
    for count in wrong:
        before = unauthorized(url)
        with WrongKeyClients(url, count):
            figures = normal_load(url, seconds, clients=clients, headers={"X-API-Key": KEY})
        rows.append({"wrong_key_clients": count, **figures, "answered_401": unauthorized(url) - before})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--wrong", default="0,50", help="numbers of wrong-key clients")
    parser.add_argument("--clients", type=int, default=2, help="keyed clients")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wrong-keys-"))
    server = start_gunicorn(args.model_dir, work / "gunicorn.log", workers=2,
                            env={"API_KEYS": KEY, "HOST": "127.0.0.1"})
    try:
        print(f"clients={args.clients} seconds={args.seconds}")
        print("| wrong-key clients | keyed requests | failures | p50 ms | p99 ms | max ms | 401s answered |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in measure(server.url, [int(n) for n in args.wrong.split(",")], args.seconds, args.clients):
            print(f"| {row['wrong_key_clients']} | {row['requests']} | {row['failures']} | {row['p50_ms']} | "
                  f"{row['p99_ms']} | {row['max_ms']} | {row['answered_401']} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
