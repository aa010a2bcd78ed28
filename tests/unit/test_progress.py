"""Progress output against a fake clock and an in-memory stream: a status line on a
terminal, a line per phase and a heartbeat elsewhere, nothing when quiet."""

from __future__ import annotations

import io

import pytest

from lockbuild.progress import Progress

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_not_a_terminal_a_line_per_phase_and_a_heartbeat() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=False, clock=clock)
    progress.phase("resolving")
    progress.pinned(12)
    with progress.activity("preparing metadata of kombu-2.5.16.tar.gz"):
        clock.now = 29.0
        progress.tick()
        assert stream.getvalue() == "lockbuild: resolving\n"
        clock.now = 31.0
        progress.tick()
    lines = stream.getvalue().splitlines()
    assert lines[1] == (
        "lockbuild: still resolving: 12 pinned · preparing metadata of kombu-2.5.16.tar.gz (31 s)"
    )
    # The next heartbeat comes 30 s after the last line, not before.
    clock.now = 50.0
    progress.tick()
    assert len(stream.getvalue().splitlines()) == 2
    clock.now = 61.5
    progress.tick()
    assert stream.getvalue().splitlines()[2] == "lockbuild: still resolving: 12 pinned"


def test_terminal_status_line_shows_the_oldest_activity() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=True, clock=clock)
    progress.phase("asking build backends")
    progress.pinned(3)
    with progress.activity("get_requires_for_build_wheel of numpy-1.26.4.tar.gz"):
        clock.now = 5.0
        with progress.activity("fetching cython"):
            clock.now = 7.0
            progress.tick()
            assert progress.status() == (
                "asking build backends: 3 pinned · get_requires_for_build_wheel of "
                "numpy-1.26.4.tar.gz (7 s) +1 more"
            )
    assert stream.getvalue().endswith("+1 more\x1b[K")
    progress.message("wrote requirements.txt")
    assert "\r\x1b[Kwrote requirements.txt\n" in stream.getvalue()
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_quiet_prints_nothing() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, quiet=True, tty=False, clock=clock)
    progress.phase("resolving")
    progress.message("hello")
    clock.now = 100.0
    progress.tick()
    progress.close()
    assert stream.getvalue() == ""


def test_backtracking_is_shown_with_the_last_candidate_given_up() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=False, clock=clock)
    progress.phase("resolving")
    progress.pinned(261)
    progress.rejected(1532, "opentelemetry-proto 1.33.0")
    clock.now = 30.0
    progress.tick()
    assert stream.getvalue().splitlines()[-1] == (
        "lockbuild: still resolving: 261 pinned · backtracking: 1532 candidates given up, "
        "last opentelemetry-proto 1.33.0"
    )
