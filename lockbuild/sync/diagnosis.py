"""Reading an installer's output after it failed: which locked projects' sdist builds
it reports as failed, the line that says why, the last lines to show, and the whole
output kept in a log file."""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.sync.installer import RunResult

Log = Callable[[str], None]

_NAME = r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
_BUILD_FAILED = (
    re.compile(rf"Failed building wheel for {_NAME}"),
    re.compile(rf"Failed to build `?(?!installable\b){_NAME}"),
    re.compile(rf"Could not build wheels for {_NAME}"),
    re.compile(rf"Building wheel for {_NAME} \(.*\) did not run successfully"),
)
_BUILD_STEP_FAILED = re.compile(
    r"(Getting requirements to build wheel|Preparing metadata \(pyproject\.toml\)|"
    r"pip subprocess to install build dependencies|"
    r"Building wheel for \S+ \(.*\)) did not run successfully"
)
_WHERE = re.compile(rf"^\s*(?:Collecting|Processing \S*/|Building wheel for) ?{_NAME}")


def failed_builds(output: Sequence[str], known: Iterable[str]) -> list[NormalizedName]:
    """Names of the locked projects whose sdist build the installer reports as failed."""
    names = {canonicalize_name(n) for n in known}
    found: list[NormalizedName] = []

    def add(text: str) -> None:
        name = canonicalize_name(re.split(r"[=<>!~@ ]|-\d", text)[0])
        if name in names and name not in found:
            found.append(name)

    current: str | None = None
    for line in output:
        where = _WHERE.match(line)
        if where:
            current = where.group(1)
        for pattern in _BUILD_FAILED:
            for match in pattern.finditer(line):
                add(match.group(1))
        if _BUILD_STEP_FAILED.search(line) and current is not None:
            add(current)
    return found


def tail(lines: Sequence[str], count: int = 30) -> list[str]:
    meaningful = [line for line in lines if line.strip()]
    return meaningful[-count:]


def last_error(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        text = line.strip()
        if text.lower().startswith(("error:", "× ", "x ")) or text.startswith("ERROR"):
            return " ".join(text.split())[:200]
    last = tail(lines, 1)
    return " ".join(last[0].split())[:200] if last else "no output"


def keep_last_log(results: Sequence[RunResult], directory: Path) -> Path:
    """The output of a sync's installer runs, in ``directory``/sync.log (the last sync's,
    replaced each time): what the summary leaves out, there when wanted."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sync.log"
    with path.open("w", encoding="utf-8") as handle:
        for result in results:
            handle.write("$ " + shlex.join(result.argv) + "\n")
            handle.write("\n".join(result.output) + "\n")
    return path


def keep_log(result: RunResult) -> Path:
    fd, name = tempfile.mkstemp(prefix="lockbuild-sync-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(result.argv) + "\n")
        handle.write("\n".join(result.output) + "\n")
    return Path(name)


def show_tail(err: Log, lines: Sequence[str], title: str) -> None:
    """The last meaningful lines of an installer's or a build's output, framed."""
    err(f"--- {title} (last lines) ---")
    for line in tail(lines):
        err(f"  {line}")
    err("---")
