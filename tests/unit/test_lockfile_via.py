"""The via annotations of a lockfile read back: pins, input files and constraint files,
build edges marked, as a table."""

from __future__ import annotations

import pytest

from lockbuild.lock.model import Via, parse_via

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("requests", Via("requests", False, "pin")),
        ("Foo_Bar", Via("foo-bar", False, "pin")),
        ("abiext (build)", Via("abiext", True, "pin")),
        ("  numpy (build)  ", Via("numpy", True, "pin")),
        ("-r requirements.in", Via("requirements.in", False, "input")),
        ("-r dev.in (build)", Via("dev.in", True, "input")),
        ("proj (pyproject.toml)", Via("proj (pyproject.toml)", False, "input")),
        ("proj (pyproject.toml) (build)", Via("proj (pyproject.toml)", True, "input")),
        ("-c constraints.txt", Via("constraints.txt", False, "constraint")),
        ("build override", Via("build override", True, "override")),
    ],
)
def test_parse_via(text: str, expected: Via) -> None:
    assert parse_via(text) == expected
