"""Find a container engine that can run docker-compose.yml here, and drive one compose project.

Where the dev machines' podman scripts sit beside the checkout (../shared/containers), they are
used: `setup` once, then `compose` (podman-compose with the build options these machines need).
Elsewhere a working Docker engine with the compose plugin is used as is.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_CONTAINERS = (ROOT.parent / "shared" / "containers",)
# Variables the compose file reads that a developer's shell may hold and that would change what
# the test runs; the base image and package index stay, they only say where to fetch from.
KEEP_FROM_HOST = {"BASE_IMAGE", "TORCH_INDEX_URL", "CUDA_IMAGE"}


@dataclass(frozen=True)
class Engine:
    """`compose` runs compose commands; `engine` runs the matching podman/docker commands."""

    compose: tuple[str, ...]
    engine: tuple[str, ...]


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_engine() -> Engine | str:
    """An Engine, or the reason why none is usable (for pytest.skip)."""
    for folder in SHARED_CONTAINERS:
        setup, compose = folder / "setup", folder / "compose"
        if setup.is_file() and compose.is_file():
            if shutil.which("podman") is None and os.geteuid() != 0:
                return f"podman is not installed and {setup} needs root to install it"
            # Idempotent: a minute the first time on a machine, seconds after.
            subprocess.run([str(setup)], check=True, timeout=900)
            return Engine(compose=(str(compose),), engine=("podman",))
    if shutil.which("docker") and _works(["docker", "compose", "version"]) \
            and _works(["docker", "info"]):
        return Engine(compose=("docker", "compose"), engine=("docker",))
    return ("no container engine: neither ../shared/containers (podman) nor a running Docker "
            "engine with the compose plugin")


def compose_variables() -> set[str]:
    """Names of the variables that docker-compose.yml interpolates."""
    text = (ROOT / "docker-compose.yml").read_text()
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


@dataclass
class Project:
    """One compose project (its own containers, network and volumes) of docker-compose.yml."""

    engine: Engine
    name: str
    settings: dict[str, str]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in compose_variables() or k in KEEP_FROM_HOST}
        return {**env, **self.settings}

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`compose -p NAME ARGS`, from the repository root; raises with the output on failure."""
        cmd = [*self.engine.compose, "-p", self.name, *args]
        done = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def engine_run(self, *args: str, timeout: float = 120) -> str:
        """A podman/docker command; its stdout and stderr together."""
        done = subprocess.run([*self.engine.engine, *args], capture_output=True, text=True,
                              timeout=timeout, check=True)
        return done.stdout + done.stderr

    def container(self, service: str) -> str:
        """The id of the service's container (running or exited)."""
        ids = self.engine_run("ps", "-a", "-q",
                              "--filter", f"label=com.docker.compose.project={self.name}",
                              "--filter", f"label=com.docker.compose.service={service}").split()
        assert ids, f"no container for service {service} in project {self.name}"
        return ids[0]

    def copy_out(self, service: str, path: str, dest: Path) -> Path:
        """Copy one file out of the service's container (volumes included)."""
        self.engine_run("cp", f"{self.container(service)}:{path}", str(dest))
        return dest

    def logs(self, service: str) -> str:
        return self.engine_run("logs", self.container(service))

    def exec(self, service: str, *cmd: str) -> subprocess.CompletedProcess:
        """Run a command in the service's running container; the result, whatever its exit code."""
        return subprocess.run([*self.engine.engine, "exec", self.container(service), *cmd],
                              capture_output=True, text=True, timeout=60)

    def healthy(self, service: str, timeout: float = 60) -> bool:
        """Whether the service's health check passes: podman runs it on request (podman-compose
        starts no timer for it here); Docker runs it on its interval, so wait for the status."""
        cid = self.container(service)
        if self.engine.engine[0] == "podman":
            return subprocess.run(["podman", "healthcheck", "run", cid], capture_output=True,
                                  timeout=60).returncode == 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.engine_run("inspect", "-f", "{{.State.Health.Status}}", cid).strip()
            if status in ("healthy", "unhealthy"):
                return status == "healthy"
            time.sleep(1)
        return False
