"""What lockbuild is doing, for the person waiting.

compile (``Progress``): on a terminal one status line redrawn every second (pins so far,
the phase, the longest-running fetch or hook and for how long); elsewhere (CI logs) a
line per phase and at least one line every 30 s while a phase lasts. Quiet shows nothing.

sync (``InstallerProgress``): the installer's milestone lines (collecting, building,
installing ...) as one status line on a terminal, cleared when it ends; nothing elsewhere
(sync prints one line per action, the installer's output goes to its log)."""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

HEARTBEAT = 30.0


# No line lockbuild prints is longer (a path, a list or an answer echoed in full could
# run to megabytes); what is cut is counted.
MAX_LINE = 1000


def bounded(line: str, limit: int = MAX_LINE) -> str:
    """``line`` as printed: at most ``limit`` characters, the rest counted."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… ({len(line) - limit} more characters)"


class _StatusLine:
    """The one line on a terminal that is drawn over in place and cleared before any
    other line is written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def draw(self, text: str) -> None:
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


class Progress:
    """Thread-safe: fetches and hooks start and end on worker threads."""

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        tty: bool | None = None,
        heartbeat: float = HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty() if tty is None else tty
        self.heartbeat = heartbeat
        self.clock = clock
        self._lock = threading.Lock()
        self._phase = ""
        self._pinned = 0
        self._rejected: tuple[int, str] = (0, "")
        self._activities: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()
        self._last_line = clock()
        self._line = _StatusLine(stream)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- what the work reports -------------------------------------------------------
    def start(self) -> None:
        """Begin redrawing (terminal) or the heartbeat (otherwise) on a daemon thread."""
        if self.quiet or self._ticker is not None:
            return
        self._ticker = threading.Thread(target=self._tick, name="lockbuild-progress", daemon=True)
        self._ticker.start()

    def phase(self, text: str) -> None:
        with self._lock:
            if text == self._phase:
                return
            self._phase = text
            if not self.tty and not self.quiet:
                self._write_line(f"lockbuild: {text}")
        self.redraw()

    def pinned(self, count: int) -> None:
        with self._lock:
            self._pinned = count

    def rejected(self, count: int, last: str) -> None:
        """The resolver is backtracking: how many candidates it gave up so far."""
        with self._lock:
            self._rejected = (count, last)

    @contextlib.contextmanager
    def activity(self, text: str) -> Iterator[None]:
        """Something that may take a while (a page fetch, a hook, an install)."""
        ident = next(self._ids)
        with self._lock:
            self._activities[ident] = (text, self.clock())
        try:
            yield
        finally:
            with self._lock:
                self._activities.pop(ident, None)

    def message(self, text: str) -> None:
        """A line of its own (a log message), above the status line."""
        if self.quiet:
            return
        with self._lock:
            self._write_line(text)
        self.redraw()

    def notice(self, text: str) -> None:
        """A line the user must read about the result: shown even when quiet."""
        with self._lock:
            self._write_line(text)
        self.redraw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            self._clear()

    # --- rendering ---------------------------------------------------------------------
    def status(self) -> str:
        """The one-line status: phase, pins so far, the oldest running activity."""
        with self._lock:
            return self._status()

    def _status(self) -> str:
        now = self.clock()
        parts = [self._phase or "working", f"{self._pinned} pinned"]
        if self._rejected[0]:
            count, last = self._rejected
            parts.append(f"backtracking: {count} candidates given up, last {last}")
        if self._activities:
            text, since = min(self._activities.values(), key=lambda item: item[1])
            more = len(self._activities) - 1
            parts.append(f"{text} ({now - since:.0f} s)" + (f" +{more} more" if more else ""))
        return parts[0] + ": " + " · ".join(parts[1:])

    def redraw(self) -> None:
        if self.quiet or not self.tty:
            return
        with self._lock:
            self._line.draw(self._status()[:200])

    def _clear(self) -> None:
        self._line.clear()

    def _write_line(self, text: str) -> None:
        self._clear()
        self.stream.write("\n".join(map(bounded, text.split("\n"))) + "\n")
        self.stream.flush()
        self._last_line = self.clock()

    def tick(self) -> None:
        """One beat: redraw the status line, or (not a terminal) print it when nothing
        was printed for ``heartbeat`` seconds."""
        if self.quiet:
            return
        if self.tty:
            self.redraw()
            return
        with self._lock:
            if self.clock() - self._last_line >= self.heartbeat:
                self._write_line(f"lockbuild: still {self._status()}")

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()


# As text: compiled (and kept by the re module) when an installer's line is shown on a
# terminal (start-up speed).
_MILESTONE = (
    r"^\s*(Collecting|Downloading|Processing|Installing build dependencies|"
    r"Getting requirements|Preparing metadata|Building|Built|Installing collected|"
    r"Uninstalling|Successfully|Resolved|Prepared|Installed|Uninstalled)\b"
)


class InstallerProgress:
    """A one-line status on a terminal on stderr; nothing when it is not a terminal."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._line = _StatusLine(self.stream)

    def line(self, text: str) -> None:
        if not self.tty or not re.match(_MILESTONE, text) or text.endswith("'done'"):
            return
        text = " ".join(text.split())
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self._line.draw(f"lockbuild: {text}"[:width])

    def clear(self) -> None:
        self._line.clear()
