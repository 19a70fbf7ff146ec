"""A real Ray cluster of several nodes on this machine, for the ray engine's tests and benchmark.

Each node is its own `ray start --block` in its own process group (a session), so stopping one is
killing that group: `ray stop` would stop every Ray on the machine, other developers' included.
Every port is chosen free, the dashboard is off, the object store is small and lives in the
temporary folder, which is short (Ray's socket paths must fit in 107 bytes) and removed afterwards.
The cluster has its own authentication token (`env`, for every process that talks to it), not the
one Ray would otherwise keep in ~/.ray/auth_token for everybody on the machine.

Ray turns `--node-ip-address 127.0.0.1` into the machine's own address (Ray's
`resolve_ip_for_localhost`: nodes must reach each other), so the nodes advertise that address.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalRayCluster:
    """`nodes` raylets of `cpus` CPUs each (the first is the head); `address` once entered."""

    def __init__(self, nodes: int = 2, cpus: int = 1, timeout: float = 120.0) -> None:
        self.nodes, self.cpus, self.timeout = nodes, cpus, timeout
        self.processes: list[subprocess.Popen] = []
        self.temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
        self.address = ""
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}

    def _start(self, head: bool, log: Path) -> None:
        ports = free_ports(7 + 16)
        command = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus),
                   "--num-gpus", "0", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats",
                   "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
                   "--dashboard-agent-listen-port", str(ports[2]), "--dashboard-agent-grpc-port", str(ports[3]),
                   "--runtime-env-agent-port", str(ports[4]), "--metrics-export-port", str(ports[5]),
                   "--dashboard-port", str(ports[6]), "--plasma-directory", self.temp,
                   "--worker-port-list", ",".join(map(str, ports[7:]))]
        if head:
            self.address = f"127.0.0.1:{free_ports(1)[0]}"
            command += ["--head", "--port", self.address.split(":")[1], "--include-dashboard", "false",
                        "--temp-dir", self.temp]
        else:
            command += ["--address", self.address]
        with log.open("w") as out:
            self.processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                                   start_new_session=True))

    def __enter__(self) -> "LocalRayCluster":
        try:
            for node in range(self.nodes):
                self._start(node == 0, Path(self.temp) / f"node{node}.log")
                self._wait_for(node + 1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for(self, nodes: int) -> None:
        """Until `ray status` counts `nodes` live nodes (or a node's process ended)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"ray start ended with {process.returncode}: see {self.temp}/node*.log\n"
                                       + self.logs())
            status = subprocess.run([RAY, "status", "--address", self.address], capture_output=True, text=True,
                                    env=self.env, timeout=60)
            if status.returncode == 0 and f"{float(self.cpus * nodes)} CPU" in status.stdout:
                return
            time.sleep(1)
        raise TimeoutError(f"the Ray cluster did not reach {nodes} nodes in {self.timeout} s\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(path.read_text()[-2000:] for path in sorted(Path(self.temp).glob("node*.log")))

    def __exit__(self, *exc) -> None:
        """SIGTERM to each node's group (workers first, then the head), SIGKILL to what is left
        after a few seconds: on a loaded machine Ray's processes can take longer to go."""
        for process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes:
            _signal_group(process, signal.SIGKILL)  # the raylet, GCS and workers of that node too
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
