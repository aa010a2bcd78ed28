"""Input parsing takes linear time: long and adversarial lines are parsed, or refused with
one InputError, and what they hold survives (the requirement, its comment, its options).

Parsing a requirement followed by 80,000 spaces used to take 50 s (a comment pattern that
backtracked); the time bounds below are generous (minutes before, a fraction of a second
now) and only catch a return of super-linear parsing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement

from lockbuild.cli.reqfile import read_spec
from lockbuild.errors import InputError
from lockbuild.lock.lockfile import parse_lockfile

GENEROUS_SECONDS = 20.0

FRAGMENTS = [" ", "\t", "#", "-", "--", "[", "]", "a", "=", "==", "@", ";", "\\", "x y"]
FRAGMENTS += ["--hash", " --", "${", "}", "'", '"', "(", "<", "~=", ",", ".", "/", ":"]


def _read(text: str) -> tuple[list[str], list[str]]:
    """(requirements, constraints) of one requirements file holding ``text``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.in"
        path.write_text(text, encoding="utf-8")
        spec = read_spec([path])
    return [str(r.requirement) for r in spec.requirements], [
        str(c.requirement) for c in spec.constraints
    ]


@st.composite
def adversarial_lines(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["beta", "beta==1.0", "beta ", "--pre", "", "beta[", "b @ "]))
    fragment = "".join(draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3)))
    repeat = draw(st.integers(2_000, 30_000))
    suffix = draw(st.sampled_from(["", "x", "#", " # c", "==1", "]", " --hash=sha256:ab"]))
    return prefix + fragment * repeat + suffix


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversarial_lines())
def test_adversarial_lines_are_parsed_or_refused_in_linear_time(line: str) -> None:
    start = time.monotonic()
    try:
        requirements, _ = _read(line + "\n")
    except InputError as exc:
        assert "\n" not in exc.message and len(exc.message) < 1000
        assert "requirements.in" in exc.message
    else:
        # One line is at most one requirement, named by the line's start (a local path,
        # such as "///", is named later from its metadata).
        assert len(requirements) <= 1
        for text in requirements:
            requirement = Requirement(text)
            assert requirement.url is not None or line.lstrip().startswith(requirement.name)
    assert time.monotonic() - start < GENEROUS_SECONDS


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("beta" + " " * 80_000 + "# a comment", ["beta"]),
        ("beta" + " " * 80_000, ["beta"]),
        ("beta>=1" + "\t" * 80_000 + "#", ["beta>=1"]),
        ("beta" + " " * 5_000_000 + "# five megabytes of blanks", ["beta"]),
        ("# " + "#" * 5_000_000, []),
    ],
    ids=["spaces-then-comment", "trailing-spaces", "tabs", "5-mb-of-spaces", "5-mb-comment"],
)
def test_long_lines_keep_their_structure(line: str, expected: list[str]) -> None:
    start = time.monotonic()
    requirements, _ = _read(line + "\n")
    assert requirements == expected
    assert time.monotonic() - start < GENEROUS_SECONDS


@pytest.mark.parametrize(
    "line",
    [
        "beta" + " " * 80_000 + "x",
        "beta" + " " * 80_000 + "--frobnicate",
        "beta[" + "[" * 200_000,
        "./p[" + "a[" * 200_000 + "]",
        "a" * 5_000_000 + " >>= 1",
    ],
    ids=["spaces-then-junk", "spaces-then-option", "brackets", "path-brackets", "5-mb-name"],
)
def test_long_bad_lines_are_one_error(line: str) -> None:
    start = time.monotonic()
    with pytest.raises(InputError) as caught:
        _read(line + "\n")
    message = caught.value.message
    assert "requirements.in line 1: " in message
    assert "\n" not in message and len(message) < 1000  # the line is shown cut short
    assert time.monotonic() - start < GENEROUS_SECONDS


def test_a_long_lockfile_line_is_read_in_linear_time() -> None:
    start = time.monotonic()
    text = "beta==1.0" + " " * 2_000_000 + "--hash=sha256:" + "a" * 64 + "\n"
    locked = parse_lockfile(text, Path("requirements.txt"))
    assert locked.pins["beta"].hashes == ("a" * 64,)
    assert locked.pins["beta"].line == "beta==1.0"
    assert time.monotonic() - start < GENEROUS_SECONDS
