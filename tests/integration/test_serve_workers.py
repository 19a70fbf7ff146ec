"""Connections spread over the gunicorn workers: each worker listens on a socket of its own
(reuse_port), so a burst of keep-alive connections is not taken whole by the first worker awake."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.integration.conftest import wait_until


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on `port` (state 0A in /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def test_every_worker_listens_on_a_socket_of_its_own(server):
    port = int(server.url.rsplit(":", 1)[1])
    listening = listening_inodes(port)
    held = [socket_inodes(pid) & listening for pid in server.worker_pids()]
    assert len(held) == 2 and all(len(h) == 1 for h in held), held
    assert held[0] != held[1]  # one shared socket is what let one worker accept a whole burst
    assert not socket_inodes(server.pid) & listening  # the master accepts nothing


def test_a_burst_of_keep_alive_connections_reaches_both_workers(server):
    """16 connections opened at once, each sending two requests on the same connection: both workers
    answer some (all 16 on one worker has probability 2 / 2**16 with the kernel's hash)."""
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    connections = [socket.create_connection((host, port), timeout=10) for _ in range(16)]
    try:
        for round_ in range(2):
            for index, conn in enumerate(connections):
                conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: burst-{round_}-{index}\r\n\r\n"
                             .encode())
            for conn in connections:
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                    chunk = conn.recv(4096)
                    assert chunk, "connection closed"
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200")
    finally:
        for conn in connections:
            conn.close()
    # Access lines are written after the answers: wait for the last ones.
    assert wait_until(lambda: len(server.served_by("burst-")) == 2, timeout=10), server.log()
