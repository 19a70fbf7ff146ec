"""Hostile and normal clients, and Debian's nginx with the project's proxy config, for the
reliability tests and benchmarks/slow_clients.py (one mechanism for both).

    proxy = start_nginx(upstream_port, workdir, env={"MAX_UPLOAD_MB": "1"})   # proxy.url, .stop()
    with SlowClients("127.0.0.1", port, count=20, mode="headers") as slow:
        figures = normal_load(url, seconds=5, clients=2)   # p50/p99 in ms, failures
    slow.results  # per connection: seconds until the server closed it (None: still open), first line
"""
from __future__ import annotations

import importlib.util
import io
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.integration.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "docker" / "nginx" / "render.py"


def png_bytes(side: int = 28, seed: int = 0) -> bytes:
    """A real PNG of random gray pixels."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def render_nginx_config(env: dict) -> str:
    """docker/nginx/render.py's text for `env`: the very file the compose `proxy` service runs."""
    spec = importlib.util.spec_from_file_location("nginx_render", RENDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(env)


@dataclass
class Nginx:
    process: subprocess.Popen
    url: str
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(upstream_port: int, workdir: Path, env: dict | None = None) -> Nginx:
    """Debian's nginx on a free 127.0.0.1 port, proxying to 127.0.0.1:upstream_port, in the
    foreground (stopped with .stop()); waits until it accepts connections."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise RuntimeError("nginx is not installed: apt-get install -y nginx (.ci/run does it)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    config = workdir / "nginx.conf"
    # Every client of a test is 127.0.0.1, one address to the per-address rate limit: off (very
    # high) unless a test sets PROXY_RATE_LIMIT.
    config.write_text(render_nginx_config({"LISTEN": f"127.0.0.1:{port}", "UPSTREAM": f"127.0.0.1:{upstream_port}",
                                           "PROXY_RATE_LIMIT": "100000", "PROXY_RATE_BURST": "100000",
                                           **(env or {})}))
    # As root, nginx's workers would run as nobody, who cannot write the (private) temp folder.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    log_path = workdir / "nginx.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(config), "-g", directives],
                                   stdout=log, stderr=subprocess.STDOUT)
    proxy = Nginx(process, f"http://127.0.0.1:{port}", port, log_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{proxy.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proxy
        except OSError:
            time.sleep(0.05)
    proxy.stop()
    raise TimeoutError(f"nginx not listening after 10 s:\n{proxy.log()}")


@dataclass
class SlowResult:
    closed_after: float | None  # seconds from connect until the server closed it; None: still open
    first_line: str  # the status line the server sent before closing ("" if none)


@dataclass
class SlowClients:
    """`count` connections that each send one byte every `interval` seconds: the request's headers
    (mode "headers", never finished) or a body shorter than its Content-Length (mode "body").
    One thread drives them all, so the client side stays cheap on a small machine."""

    host: str
    port: int
    count: int
    mode: str = "headers"
    interval: float = 1.0
    results: list[SlowResult] = field(default_factory=list)

    def __post_init__(self):
        if self.mode == "headers":
            self.payload = b"POST /predict HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 100_000
        else:
            self.payload = (b"POST /predict HTTP/1.1\r\nHost: slow\r\nContent-Type: image/png\r\n"
                            b"Content-Length: 100000\r\n\r\n" + b"\x89" * 100_000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "SlowClients":
        self._thread.start()
        time.sleep(self.interval * 1.5)  # every connection open and trickling before the load
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> list[SlowResult]:
        self._stop.set()
        self._thread.join(30)
        return self.results

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        conns = {}  # socket -> [connected at, bytes sent, reply]
        for _ in range(self.count):
            sock = socket.create_connection((self.host, self.port), timeout=10)
            sock.setblocking(False)
            conns[sock] = [time.monotonic(), 0, b""]
            selector.register(sock, selectors.EVENT_READ)
        closed = {}
        next_tick = time.monotonic()
        while not self._stop.is_set() and len(closed) < len(conns):
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.interval
                for sock, state in conns.items():
                    if sock in closed:
                        continue
                    try:
                        state[1] += sock.send(self.payload[state[1]:state[1] + 1])
                    except OSError:  # reset or closed by the server
                        closed[sock] = now - state[0]
                        selector.unregister(sock)
            for key, _ in selector.select(timeout=max(0.0, next_tick - time.monotonic())):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                conns[sock][2] += data
                if not data:
                    closed[sock] = time.monotonic() - conns[sock][0]
                    selector.unregister(sock)
        for sock, state in conns.items():
            self.results.append(SlowResult(closed.get(sock), state[2].split(b"\r\n", 1)[0].decode("latin-1")))
            sock.close()
        selector.close()


def normal_load(url: str, seconds: float, clients: int = 2, body: bytes | None = None,
                timeout: float = 5.0, headers: dict | None = None) -> dict:
    """`clients` threads POSTing a 28x28 PNG to /predict back to back for `seconds` (each its own
    kept-alive session, with `headers` added, e.g. an API key): request count, failures (not 200,
    or no answer within `timeout`), and p50/p99/max latency in ms."""
    body = body or png_bytes()
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = session.post(f"{url}/predict", data=body, timeout=timeout,
                                      headers={"Content-Type": "image/png", **(headers or {})}).status_code == 200
                except requests.RequestException:
                    ok = False
                latencies.append(time.perf_counter() - started)
                if not ok:
                    failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else float("nan")

    return {"requests": len(ordered), "failures": failures[0], "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(1000 * ordered[-1], 1) if ordered else float("nan")}


def raw_exchange(url: str, request: bytes, *, half_close: bool = False, timeout: float = 15.0) -> tuple[int, bytes]:
    """Send `request` as is on a new connection (then shut down our side when `half_close`) and
    read the answer until the server closes or its Content-Length is in: (status, body); status 0
    when the server closed without answering."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0]):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        return 0, b""
    return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]


def gradient_png(side: int) -> bytes:
    """A side x side PNG that compresses to a few KB but costs a full decode (side² pixels)."""
    import numpy as np
    from PIL import Image

    pixels = (np.add.outer(np.arange(side), np.arange(side)) % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# A separate process, so its threads do not take the GIL from the measured clients, at the lowest
# CPU priority: on one machine the attackers' own CPU would otherwise be taken from the server and
# the measured clients, which a real attacker's (on other machines) is not. From `source`, another
# loopback address, so that the proxy's per-address rate limit tells the two kinds of client apart.
_HAMMER = """
import os, sys, threading, requests
from requests.adapters import HTTPAdapter
url, count, header, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
name, _, value = header.partition(':')
os.nice(19)

class FromSource(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs['source_address'] = (source, 0)
        super().init_poolmanager(*args, **kwargs)

def hammer():
    with requests.Session() as session:
        session.mount('http://', FromSource())
        while True:
            try:
                session.post(url + '/predict', data=b'x' * 1024, timeout=10,
                             headers={'Content-Type': 'image/png', name: value.strip()})
            except requests.RequestException:
                pass

for _ in range(count):
    threading.Thread(target=hammer, daemon=True).start()
threading.Event().wait()
"""


class WrongKeyClients:
    """`count` clients POSTing to /predict back to back with a wrong key (`header`, "Name: value"),
    each its own kept-alive connection, in a child process, while the `with` block runs."""

    def __init__(self, url: str, count: int = 50, header: str = "X-API-Key: wrong-key",
                 source: str = "127.0.0.2") -> None:
        self.url, self.count, self.header, self.source = url, count, header, source
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "WrongKeyClients":
        import sys

        if self.count:
            self.process = subprocess.Popen([sys.executable, "-c", _HAMMER, self.url, str(self.count), self.header,
                                             self.source])
            time.sleep(1.0)  # all connected and hammering before the measure starts
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
