"""Fixtures shared by the scenario tests: an isolated environment per test, and the
loopback server over the module's own ``index`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """os.environ without the machine's pip/uv configuration, caches under tmp_path."""
    return isolated_env(tmp_path)


@pytest.fixture(scope="module")
def server(index: FixtureIndex) -> Iterator[IndexServer]:
    """The module's fixture index served over HTTP (PEP 691 JSON and PEP 503 HTML)."""
    with IndexServer(index.root) as srv:
        yield srv
