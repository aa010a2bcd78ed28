"""A build backend that failed: the error a failed, timed-out or misbehaving PEP 517 hook
raises, where its full output is kept, and the one line a user reads about it."""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockbuild.errors import BuildError

MAX_LINE = 300
NO_WHEEL = "has no wheel for"
# Lines of a Python traceback that say where, not what went wrong.
_NOISE = re.compile(r"^(Traceback \(most recent call last\):|File \"|\^+$|~+$|During handling)")


class HookFailed(BuildError):
    """A hook (or the installation of the environment it runs in) failed, timed out or
    answered something invalid: the release it was run for cannot be built here."""

    def __init__(
        self, what: str, hook: str, reason: str, log: Path | None = None, *, cause: str = ""
    ) -> None:
        where = f" (full log: {log})" if log is not None else ""
        super().__init__(f"{what}: {hook}: {reason}{where}")
        self.what = what
        self.hook = hook
        self.reason = reason
        self.log = log
        self.timed_out = reason.startswith("timed out")
        # The requirement the installer's log names as failing to build ("" when none):
        # a cause that does not change between runs, so it may be remembered.
        self.cause = cause


class RuledOutWhilePinned(Exception):
    """A release the resolver had already pinned turned out unusable (a wheel whose
    metadata is invalid is only read once pinned): the resolution starts again without
    it. Not a user-facing error: compile catches it."""

    def __init__(self, ruled_out: RuledOut) -> None:
        super().__init__(ruled_out.line())
        self.ruled_out = ruled_out


# What installers print about the first requirement that did not build (uv, then pip).
_FAILED_TO_BUILD = (
    re.compile(r"Failed to build `([^`]+)`"),
    re.compile(r"Failed to build '([^']+)'"),
    re.compile(r"Failed building wheel for ([A-Za-z0-9._-]+)"),
    re.compile(
        r"Failed to build installable wheels for some pyproject\.toml based projects \(([^,)]+)"
    ),
    re.compile(r"Could not build wheels for ([A-Za-z0-9._-]+)"),
    re.compile(r"Failed to build ([A-Za-z0-9._-]+)"),
)


def failed_to_build(output: str, pins: Sequence[str] = ()) -> str | None:
    """The first requirement an installer's log says failed to build, as ``name==version``
    where the log or ``pins`` (the requirements and constraints it was given) tell the
    version; None when the log names none."""
    found: list[tuple[int, int, str]] = []
    for rank, pattern in enumerate(_FAILED_TO_BUILD):
        match = pattern.search(output)
        if match:
            found.append((match.start(), rank, match.group(1).strip()))
    if not found:
        return None
    text = min(found)[2]
    if "==" in text:
        return text
    name = re.sub(r"[-_.]+", "-", text).lower()
    for pin in pins:
        pinned, sep, version = pin.partition("==")
        if sep and re.sub(r"[-_.]+", "-", pinned.strip()).lower() == name:
            return f"{text}=={version.strip()}"
    collected = re.search(rf"(?i)\b{re.escape(text)}-(\d[^\s/]*?)\.(tar\.gz|zip)\b", output)
    return f"{text}=={collected.group(1)}" if collected else text


def last_line(text: str) -> str:
    """The backend's own last error line: the last non-empty line of its output that is
    not traceback framing (an exception's message is the last line Python prints)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if not _NOISE.match(line):
            return line[:MAX_LINE] + ("..." if len(line) > MAX_LINE else "")
    return "(no output)"


class LogKeeper:
    """Keeps the output of failed hooks in one directory made on first use (under the
    system's temporary directory), so a ruled-out release's log can be read afterwards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def keep(self, label: str, hook: str, text: str) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="lockbuild-hook-logs-"))
            base = re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{label}-{hook}")[:120]
            path = self._dir / f"{base}.log"
            number = 1
            while path.exists():
                number += 1
                path = self._dir / f"{base}-{number}.log"
            path.write_text(text, encoding="utf-8", errors="replace")
            return path


@dataclass(frozen=True)
class RuledOut:
    """A release left out of the resolution because its build backend failed."""

    name: str
    version: str
    hook: str
    reason: str
    log: Path | None
    timed_out: bool = False

    @classmethod
    def of(cls, name: str, version: str, failure: HookFailed) -> RuledOut:
        return cls(name, version, failure.hook, failure.reason, failure.log, failure.timed_out)

    @property
    def cause(self) -> str:
        """What failed: "metadata" (the release's own, as published or as its backend
        wrote it), "environment" (installing its build requirements) or "backend"."""
        if self.hook == "metadata":
            return "metadata"
        if self.hook.startswith("installing build requirements"):
            return "environment"
        return "backend"

    def line(self) -> str:
        where = f" (full log: {self.log})" if self.log is not None else ""
        return f"{self.name} {self.version}: {self.hook}: {self.reason}{where}"

    def notice(self) -> str:
        return f"note: ruled out {self.line()}"


def hint(ruled_out: list[RuledOut], as_of_release: bool) -> str | None:
    """What might help when backends failed (not when they only ran out of time): old
    sdists usually fail against build tools newer than themselves."""
    # A build environment of --build-deps-as-of-release that could not be made because
    # its old requirements have no wheel for this Python: the cut-off is what to drop.
    if as_of_release and any(not r.timed_out and NO_WHEEL in r.reason for r in ruled_out):
        return (
            "build requirements as old as these sdists have no wheels for this Python and do "
            "not build on it: lock without --build-deps-as-of-release (a build override, "
            "--build-constraint FILE, then limits the build tools they take)"
        )
    # Otherwise only a backend that failed (not one that ran out of time, nor metadata or
    # an environment that could not be made) may be helped by older build tools.
    if not any(not r.timed_out and r.cause == "backend" for r in ruled_out):
        return None
    if as_of_release:
        return (
            "a build override (--build-constraint FILE, e.g. 'setuptools<60' or 'cython<3') "
            "may help these sdists build"
        )
    return (
        "these sdists may need older build tools: a build override (--build-constraint "
        "FILE, e.g. 'setuptools<60' or 'cython<3') or --build-deps-as-of-release may help"
    )
