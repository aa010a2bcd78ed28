"""Fixtures shared by the scenario tests: an isolated environment per test, and the
loopback server over the module's own ``index`` fixture; and the rule that the unit layer
is ``tests/unit``: every test there is marked ``unit`` and none elsewhere is, so that the
path and the marker select the same tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fixtures import FixtureIndex, IndexServer, isolated_env

UNIT = Path(__file__).resolve().parent / "unit"

# The property tests draw the same examples on every run of `make test`, so that a pass
# or a failure repeats (CI once failed on an example no earlier run had drawn).
# HYPOTHESIS_PROFILE=explore draws new ones, to look for more.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT in item.path.resolve().parents:
            item.add_marker(pytest.mark.unit)
        elif item.get_closest_marker("unit") is not None:
            raise pytest.UsageError(
                f"{item.nodeid}: marked unit outside tests/unit (move it, or drop the mark)"
            )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """os.environ without the machine's pip/uv configuration, caches under tmp_path."""
    return isolated_env(tmp_path)


@pytest.fixture(scope="module")
def server(index: FixtureIndex) -> Iterator[IndexServer]:
    """The module's fixture index served over HTTP (PEP 691 JSON and PEP 503 HTML)."""
    with IndexServer(index.root) as srv:
        yield srv
