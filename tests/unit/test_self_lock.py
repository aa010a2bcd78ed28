"""lockbuild locks itself: requirements-dev.in holds what pyproject.toml declares, and the
checked-in pair is a lockbuild pair compiled from it (`make selfcheck` checks staleness)."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lockbuild.cli.check import pair_problems
from lockbuild.lock.formats import read_lock
from lockbuild.lock.model import TARGET
from tests.helpers import ROOT

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`


def _requirements(lines: list[str]) -> dict[str, str]:
    found = {}
    for text in lines:
        requirement = Requirement(text)
        found[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return found


def test_dev_input_lists_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirements([*project["dependencies"], *project["optional-dependencies"]["test"]])
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "requirements-dev.in").read_text().splitlines()
    ]
    listed = _requirements([line for line in lines if line])
    assert {name: listed.get(name) for name in declared} == declared
    # The installers and the backend make install uses are locked too.
    assert {"pip", "setuptools", "wheel"} <= set(listed)


def test_dev_lock_is_a_lockbuild_pair_for_the_project_target() -> None:
    lock = read_lock(ROOT / "requirements-dev.txt")
    build = read_lock(ROOT / "requirements-dev-build.txt", what="build file")
    assert lock.first(TARGET) == "cpython 3.11 linux x86_64"
    assert pair_problems(lock, build) == []
    assert lock.command == "lockbuild compile requirements-dev.in"
    assert {"pip", "setuptools", "pytest", "mypy", "ruff", "uv"} <= set(lock.pins)
