"""What the resolver reports as it goes (resolvelib's ``BaseReporter``): how many projects
are pinned so far, and each candidate rejected while backtracking, handed to the caller
or shown on one stderr line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from resolvelib import BaseReporter
from resolvelib.structs import State

from lockbuild.model import Candidate, Req

if TYPE_CHECKING:
    from resolvelib.resolvers import Criterion


class ProgressReporter(BaseReporter[Req, Candidate, str]):
    """Counts pins and rejections. ``on_pin`` hears the number of projects pinned so far
    and ``on_reject`` each rejection (its count and the candidate); with neither, and
    stderr a terminal and not ``quiet``, a status line shows the count instead."""

    def __init__(
        self,
        quiet: bool,
        on_pin: Callable[[int], None] | None = None,
        on_reject: Callable[[int, str], None] | None = None,
    ) -> None:
        self.quiet = quiet or not sys.stderr.isatty() or on_pin is not None
        self.on_pin = on_pin
        self.on_reject = on_reject
        self.pinned: set[str] = set()
        self.rejected = 0

    def rejecting_candidate(
        self, criterion: Criterion[Req, Candidate], candidate: Candidate
    ) -> None:
        """Backtracking: shown, so that a long search says what it is searching."""
        self.rejected += 1
        if self.on_reject is not None:
            self.on_reject(self.rejected, str(candidate))

    def pinning(self, candidate: Candidate) -> None:
        """A candidate joins the tentative result: the count of distinct projects grows."""
        self.pinned.add(candidate.key)
        if self.on_pin is not None:
            self.on_pin(len(self.pinned))
        if not self.quiet:
            sys.stderr.write(f"\rresolving: {len(self.pinned)} pinned, last {candidate}\x1b[K")
            sys.stderr.flush()

    def ending(self, state: State[Req, Candidate, str]) -> None:
        """The resolution succeeded: the status line is cleared."""
        if not self.quiet:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
