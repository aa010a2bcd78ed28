"""The held-back line of a runtime edge: read back as written, and which compile prints."""

from __future__ import annotations

import pytest

from lockbuild.resolve.heldback import HeldBack
from lockbuild.resolve.whynewer import from_line, printed

pytestmark = pytest.mark.unit

LIB = "lib 1.0 (newest 3.0): app 1.0 requires lib<2"


@pytest.mark.parametrize(
    ("line", "parsed", "major"),
    [
        (LIB, HeldBack("lib", "1.0", "3.0", ("app 1.0 requires lib<2",)), True),
        ("a 1.0 (newest 1.5): x; y", HeldBack("a", "1.0", "1.5", ("x", "y")), False),
        (
            "a 1.0 (newest 2.0): kept at the existing lock's pin "
            "(to move it: lockbuild compile -P a)",
            HeldBack(
                "a",
                "1.0",
                "2.0",
                ("kept at the existing lock's pin (to move it: lockbuild compile -P a)",),
            ),
            False,
        ),
        ("a 1.0 newest 1.5: x", None, False),
        ("", None, False),
    ],
)
def test_line_round_trip(line: str, parsed: HeldBack | None, major: bool) -> None:
    assert from_line(line) == parsed
    if parsed is not None:
        assert parsed.line() == line
        assert printed(parsed) is major
