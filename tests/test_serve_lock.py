"""requirements/serve.lock (the runtime image's hashed pins) agrees with pyproject.toml's serve extra.

`make lock` regenerates the lock; this test fails when someone changes the extra and forgets to.
"""
from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

# The images' Pythons: Debian bookworm's 3.11 (the local podman base) and python:3.12-slim.
PYTHONS = ("3.11", "3.12")
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lock: str) -> list[tuple[str, str, str | None, int]]:
    """(name, version, marker, number of hashes) for each pinned line of a hashed lock file."""
    found = []
    for line in lock.splitlines():
        match = PIN.match(line)
        if match:
            found.append((canonicalize_name(match[1]), match[2], match[3], 0))
        elif line.strip().startswith("--hash=sha256:") and found:
            name, version, marker, hashes = found[-1]
            found[-1] = (name, version, marker, hashes + 1)
    return found


def disagreements(pyproject: str, lock: str) -> list[str]:
    """What is wrong between the serve extra and the lock, one sentence each (none when they agree)."""
    serve = [Requirement(r) for r in tomllib.loads(pyproject)["project"]["optional-dependencies"]["serve"]]
    locked = pins(lock)
    problems = [f"{name}=={version} has no --hash" for name, version, _, hashes in locked if not hashes]
    for python in PYTHONS:
        env = {"python_version": python, "python_full_version": f"{python}.0",
               "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
        for req in serve:
            name = canonicalize_name(req.name)
            versions = [version for pinned, version, marker, _ in locked if pinned == name
                        and (marker is None or Requirement(f"x ; {marker}").marker.evaluate(env))]
            if len(versions) != 1:
                problems.append(f"{req}: {len(versions)} pins for Python {python} in the lock")
            elif not req.specifier.contains(versions[0], prereleases=True):
                problems.append(f"{req}: the lock pins {versions[0]} for Python {python}")
    return problems


@pytest.fixture(scope="module")
def texts() -> tuple[str, str]:
    return ((ROOT / "pyproject.toml").read_text(), (ROOT / "requirements" / "serve.lock").read_text())


def test_every_serve_requirement_is_pinned_in_the_lock_at_an_allowed_version(texts):
    problems = disagreements(*texts)
    assert not problems, "run `make lock`: " + "; ".join(problems)


@pytest.mark.parametrize("change,expected", [
    (('"flask>=3.0"', '"flask>=99"'), "flask>=99: the lock pins"),
    (('"tqdm>=4.60",', '"tqdm>=4.60", "requests>=2.0",'), "requests>=2.0: 0 pins"),
])
def test_a_pyproject_change_without_a_new_lock_is_caught(texts, change, expected):
    pyproject, lock = texts
    assert change[0] in pyproject
    problems = disagreements(pyproject.replace(*change), lock)
    assert any(expected in problem for problem in problems), problems


def test_a_pin_without_a_hash_is_caught(texts):
    pyproject, lock = texts
    unhashed = re.sub(r"(flask==[^\n]*)\\\n(\s+--hash=[^\n]*\n)+", r"\1\n", lock)
    assert any("flask" in problem and "no --hash" in problem
               for problem in disagreements(pyproject, unhashed))
