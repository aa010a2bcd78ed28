"""The target a lock records, read back by sync: which interpreters match the description
written in the header (its C library family included), as a table."""

from __future__ import annotations

import pytest

from lockbuild.target import recorded_mismatch

pytestmark = pytest.mark.unit


MARKERS = {
    "implementation_name": "cpython",
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
}


@pytest.mark.parametrize(
    ("recorded", "libc", "matches"),
    [
        ("cpython 3.11 linux x86_64", "", True),
        ("cpython 3.11 linux x86_64", "glibc", True),
        ("cpython 3.11 linux x86_64 (given, not at hand)", "glibc", True),
        ("cpython 3.11 manylinux_2_28_x86_64 (given, not at hand)", "glibc", True),
        ("cpython 3.11 manylinux_2_28_x86_64 (given, not at hand)", "", True),
        ("cpython 3.11 linux_x86_64 (given, not at hand)", "musl", True),
        ("cpython 3.11 musllinux_1_2_x86_64 (given, not at hand)", "musl", True),
        ("cpython 3.11 linux x86_64 musl", "musl", True),
        (
            "cpython 3.11 musllinux_1_2_x86_64 manylinux_2_28_x86_64 (given, not at hand)",
            "glibc",
            True,
        ),
        ("cpython 3.11 musllinux_1_2_x86_64 (given, not at hand)", "glibc", False),
        ("cpython 3.11 manylinux_2_28_x86_64 (given, not at hand)", "musl", False),
        ("cpython 3.11 linux x86_64", "musl", False),
        ("cpython 3.11 linux x86_64 musl", "glibc", False),
        ("cpython 3.12 linux x86_64", "glibc", False),
        ("cpython 3.12 linux x86_64 (given, not at hand)", "", False),
        ("cpython 3.11 macosx_11_0_arm64 (given, not at hand)", "glibc", False),
        ("cpython 3.11 manylinux_2_28_aarch64 (given, not at hand)", "glibc", False),
        ("cpython 3.11 win_amd64 (given, not at hand)", "", False),
        ("pypy 3.11 linux x86_64", "glibc", False),
        ("cpython 3.11 darwin arm64", "", False),
    ],
)
def test_recorded_target_against_an_environment(recorded: str, libc: str, matches: bool) -> None:
    found = recorded_mismatch(recorded, MARKERS, libc)
    assert (found is None) == matches
    if not matches:
        assert found == "cpython 3.11 linux x86_64" + (f" {libc}" if libc else "")
