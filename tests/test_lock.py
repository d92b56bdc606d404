"""requirements.lock is complete and exact: what `make setup` installs is decided by it alone.

pyproject.toml keeps the ranges a library user needs; the lock must pin every one of them (all extras
and the build requirements included) to a version inside the range, with hashes, and name no machine's
index or wheel folder.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def _pins() -> dict[str, tuple[Version, list[str]]]:
    pins: dict[str, tuple[Version, list[str]]] = {}
    name = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"{name} is pinned twice"
            pins[name] = (Version(match.group(2)), [])
        elif name and (found := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[name][1].append(found.group(1))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = list(project["project"]["dependencies"])
    for extra in project["project"]["optional-dependencies"].values():
        lines += extra
    lines += project["build-system"]["requires"]
    return [Requirement(line) for line in lines]


def test_every_declared_requirement_is_pinned_inside_its_range():
    pins = _pins()
    problems = []
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in the lock: run `make lock`")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement} does not admit the locked {pins[name][0]}: run `make lock`")
    assert problems == []


def test_every_pin_is_exact_and_hashed():
    pins = _pins()
    assert len(pins) > 50
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []
    text = LOCK.read_text(encoding="utf-8")
    # Only package lines: an index URL or a wheel folder belongs to the machine that made the lock.
    options = [line for line in text.splitlines() if line.startswith("-")]
    assert options == []
    assert not re.search(r"^[A-Za-z0-9._-]+\s*(>=|<=|~=|>|<|!=)", text, re.MULTILINE)


def test_torch_is_the_cpu_build_of_2_13_0():
    version, hashes = _pins()["torch"]
    assert version == Version("2.13.0+cpu") and hashes
    assert not [name for name in _pins() if name.startswith("nvidia-")]
