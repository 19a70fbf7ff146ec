"""Normal clients beside slow ones: gunicorn alone against nginx -> gunicorn (the compose setup).

For each setup and each number of slow connections (0, 20, 50 by default), the slow ones trickle
their headers (or their body) one byte a second while `--clients` normal clients POST a 28x28 PNG
to /predict back to back: requests, failures (not 200, or no answer within 5 s), p50/p99/max.
Then, how long the server took to close the slow connections and what it answered.

gunicorn is started as documented (`gunicorn -c gunicorn.conf.py`, 2 workers); nginx is Debian's
package running docker/nginx/nginx.conf.template through docker/nginx/render.py, as compose does.

    .venv/bin/python benchmarks/slow_clients.py --model-dir artifacts [--seconds 8] [--mode body]

Needs nginx (apt-get install -y nginx) and a model folder (make train, or any artifacts folder).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import start_gunicorn  # noqa: E402
from tests.reliability.harness import SlowClients, normal_load, start_nginx  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--seconds", type=float, default=8.0, help="normal load per level")
    parser.add_argument("--slow", default="0,20,50", help="numbers of slow connections")
    parser.add_argument("--clients", type=int, default=2, help="normal clients")
    parser.add_argument("--mode", choices=("headers", "body"), default="headers")
    parser.add_argument("--setups", default="gunicorn,nginx")
    parser.add_argument("--gunicorn-args", default="",
                        help="GUNICORN_CMD_ARGS for the gunicorn under test, e.g. '--threads 64'")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="after the load, keep the slow connections this long to time their closing")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    env = {"GUNICORN_CMD_ARGS": args.gunicorn_args} if args.gunicorn_args else {}
    server = start_gunicorn(args.model_dir, work / "gunicorn.log", workers=2, env=env)
    proxy = start_nginx(int(server.url.rsplit(":", 1)[1]), work / "nginx")
    try:
        print(f"mode={args.mode} clients={args.clients} seconds={args.seconds} gunicorn args={args.gunicorn_args!r}")
        print("| setup | slow connections | requests | failures | p50 ms | p99 ms | max ms | slow closed after (s) | answer |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
        for setup in args.setups.split(","):
            url = server.url if setup == "gunicorn" else proxy.url
            port = int(url.rsplit(":", 1)[1])
            for count in (int(n) for n in args.slow.split(",")):
                slow = SlowClients("127.0.0.1", port, count=count, mode=args.mode)
                with slow:
                    figures = normal_load(url, args.seconds, clients=args.clients)
                    if args.hold:
                        time.sleep(args.hold)
                closed = [r.closed_after for r in slow.results if r.closed_after is not None]
                answers = sorted({r.first_line or "(closed)" for r in slow.results if r.closed_after is not None})
                closing = (f"{len(closed)}/{count} closed, median {statistics.median(closed):.1f}"
                           if closed else f"0/{count} closed")
                print(f"| {setup} | {count} | {figures['requests']} | {figures['failures']} | "
                      f"{figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} | "
                      f"{closing if count else '-'} | {', '.join(answers) or '-'} |", flush=True)
                time.sleep(1.0)  # let the server drop what the slow clients left
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
