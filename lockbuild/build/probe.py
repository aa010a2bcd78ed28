"""Asking an interpreter about itself: a program of ``programs/`` run in it (isolated,
``-I``, bounded by the process runner) and the JSON it prints read back; its marker
values and wheel tags (what a target is made from), the distributions it sees, and a
tool's version as the tool itself prints it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import packaging
from packaging.version import InvalidVersion, Version

from lockbuild.build import programs
from lockbuild.errors import UsageError
from lockbuild.model import normalized_pins
from lockbuild.process import ProcessTimeout, run_captured

# An interpreter answers about itself in well under a second; a hung one is not waited on.
ASK_TIMEOUT = 120.0


def ask_interpreter(python: str, program: Path, *args: str, label: str) -> Any:
    """Run the ``program`` file (one of ``programs/``) in an isolated (-I) interpreter
    and read the JSON it prints; UsageError naming ``label`` when it cannot."""
    try:
        proc = run_captured([python, "-I", str(program), *args], timeout=ASK_TIMEOUT)
    except (OSError, ProcessTimeout) as exc:
        raise UsageError(f"{label}: cannot run it: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"{label}: cannot query it: {last}")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise UsageError(f"{label}: printed something other than its description") from None


def markers_and_tags(python: str) -> Any:
    """``{"env": marker values, "tags": [tag, ...]}`` of ``python`` (--python), computed
    there by the packaging lockbuild itself runs with (never guessed)."""
    site = str(Path(packaging.__file__).resolve().parent.parent)
    return ask_interpreter(python, programs.path("markers"), site, label=f"--python {python}")


def ask_environment(python: str) -> Any:
    """What ``programs/environment.py`` reports of ``python``: prefix, venv or not,
    marker values and the distributions it sees."""
    return ask_interpreter(python, programs.path("environment"), label=python)


def _ask_or_none(python: str) -> Any:
    try:
        return ask_environment(python)
    except UsageError:
        return None


def installed_pins(python: str) -> tuple[str, ...] | None:
    """``name==version`` (canonical names, sorted) of every distribution ``python``
    sees; None when it cannot be asked."""
    data = _ask_or_none(python)
    if data is None:
        return None
    return normalized_pins((str(d["name"]), str(d["version"])) for d in data["dists"])


def markers_of(python: str) -> dict[str, str] | None:
    """The marker values ``python`` reports; None when it cannot be asked."""
    data = _ask_or_none(python)
    return None if data is None else {str(k): str(v) for k, v in data["markers"].items()}


def tool_version(argv: Sequence[str], pattern: str) -> Version | None:
    """The version ``argv --version`` prints (the first group of ``pattern``, matched per
    line); None when it cannot run, fails or prints no version."""
    try:
        proc = run_captured([*argv, "--version"], timeout=ASK_TIMEOUT)
    except (OSError, ProcessTimeout):
        return None
    match = re.search(pattern, proc.stdout.strip(), re.MULTILINE)
    if proc.returncode != 0 or match is None:
        return None
    try:
        return Version(match.group(1))
    except InvalidVersion:
        return None
