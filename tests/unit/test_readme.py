"""The README stays a README: short, naming the two commands that work on a fresh
machine, linking only to files that exist, and with a pre-commit example that names no
revision that does not exist (lockbuild has no release tags: a commit sha or none)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit


def test_readme_is_short_and_says_how_to_start() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    assert "make demo" in text and "make test" in text
    assert (ROOT / "CONTRIBUTING.md").is_file()
    # No pre-commit rev that is not a commit sha (there are no release tags), here or in
    # the reference.
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        revs = re.findall(r"^\s*rev:\s*(\S+)", page.read_text(), re.MULTILINE)
        assert all(re.fullmatch(r"[0-9a-f]{40}", rev) for rev in revs), (page, revs)
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (ROOT / link).exists(), link
