"""The pair check: a lockfile and its build file each record a digest of every line of the
other that shapes an install (the command, the lockbuild header lines, option lines,
requirement lines with their hashes), so that ``check`` and ``sync`` refuse a pair that
was not compiled together or was edited since, and name the line that changed.

A digest reads ``sha256:<hex of all covered lines> lines=<fp>,<fp>,...``: one short
fingerprint per covered line, in order, is what lets the check name the edited line.
The digests guard against edits and mix-ups, not against someone who rewrites both
files and recomputes them (nothing offline could).

``read_pair`` and ``check_pair`` are what sync and wheelhouse start from: the two files
read (refusing files that are neither), then checked against each other and against the
inputs recorded in the lockfile.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockbuild.errors import InputError, StaleError
from lockbuild.lock.lockfile import (
    BUILD_DIGEST,
    INPUTS,
    LOCK_DIGEST,
    LockedFile,
    build_file_for,
    is_lockbuild_file,
    parse_lockfile,
    pins_digest,
    read_lockfile,
)
from lockbuild.spec import display_path

_FINGERPRINT_CHARS = 8
# More changed lines than this (or most lines changed): the files are not one pair.
_MAX_NAMED = 3


def _fingerprint(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:_FINGERPRINT_CHARS]


def content_digest(locked: LockedFile) -> str:
    """The digest the other file of the pair records about ``locked``."""
    lines = [text for _, text in locked.content]
    whole = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"sha256:{whole} lines=" + ",".join(_fingerprint(t) for t in lines)


def text_digest(text: str) -> str:
    """``content_digest`` of a file's text (as compile renders it)."""
    return content_digest(parse_lockfile(text, Path("<rendered>")))


def _parse(recorded: str) -> tuple[str, list[str]] | None:
    whole, sep, lines = recorded.partition(" lines=")
    if not sep or not whole.startswith("sha256:"):
        return None
    return whole, [fp for fp in lines.split(",") if fp]


def _changed_lines(locked: LockedFile, recorded: Sequence[str]) -> list[str]:
    """The covered lines of ``locked`` that differ from what was recorded, named."""
    current = [_fingerprint(text) for _, text in locked.content]
    name = display_path(locked.path)
    found: list[str] = []
    matcher = difflib.SequenceMatcher(None, list(recorded), current, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag in ("replace", "insert"):
            verb = "was edited" if tag == "replace" else "was added"
            for lineno, text in locked.content[j1:j2]:
                found.append(f"{name} line {lineno} {verb} after compile: {text[:120]}")
        else:
            where = (
                f"before line {locked.content[j1][0]}" if j1 < len(locked.content) else "at the end"
            )
            found.append(f"{name}: {i2 - i1} line(s) removed after compile ({where})")
    return found


def file_problems(locked: LockedFile, recorded: str | None, other: LockedFile) -> list[str]:
    """Why ``locked`` is not the file whose digest ``other`` recorded (empty when it is)."""
    name, other_name = display_path(locked.path), display_path(other.path)
    if recorded is None:
        return [f"{other_name} records no digest of {name}: they are not one lockbuild pair"]
    parsed = _parse(recorded)
    if parsed is None:
        return [
            f"{other_name} was written by an older lockbuild whose digests do not cover "
            "option lines and hashes: recompile"
        ]
    whole, fingerprints = parsed
    if content_digest(locked).partition(" ")[0] == whole:
        return []
    changed = _changed_lines(locked, fingerprints)
    unchanged = len(locked.content) - len(changed)
    if not changed:
        return [f"{name} was changed after it was compiled with {other_name}"]
    if len(changed) > _MAX_NAMED and unchanged < len(changed):
        return [f"{name} and {other_name} were not compiled together"]
    return changed[:_MAX_NAMED] + (
        [f"{name}: and {len(changed) - _MAX_NAMED} more changed line(s)"]
        if len(changed) > _MAX_NAMED
        else []
    )


def pair_problems(lock: LockedFile, build: LockedFile) -> list[str]:
    """Why a lockfile and a build file do not belong together (empty when they do).

    An edit of one file leaves the digest it records of the other intact; when neither
    file is the one the other recorded, they come from two compiles."""
    from lockbuild.lock.pylock import is_pylock

    if is_pylock(lock.path):
        return _pin_problems(lock, build)
    lock_problems = file_problems(lock, build.first(LOCK_DIGEST), build)
    build_problems = file_problems(build, lock.first(BUILD_DIGEST), lock)
    for problems, locked in ((lock_problems, lock), (build_problems, build)):
        if problems and not problems[0].startswith(display_path(locked.path)):
            return problems[:1]  # a missing or older digest: nothing to compare
    if lock_problems and build_problems:
        return [
            f"{display_path(lock.path)} and {display_path(build.path)} were not compiled together"
        ]
    return lock_problems + build_problems


def _pin_problems(lock: LockedFile, build: LockedFile) -> list[str]:
    """The pylock pair records digests of the pins only (see pylock.py)."""
    if build.first(LOCK_DIGEST) != pins_digest(lock.pin_pairs()):
        return [f"{build.path} was not compiled together with {lock.path}"]
    if lock.first(BUILD_DIGEST) != pins_digest(build.pin_pairs()):
        return [f"{build.path} was changed after it was compiled with {lock.path}"]
    return []


def recorded_inputs(locked: LockedFile) -> dict[str, str]:
    """The inputs compile recorded in ``locked``'s header, each with its digest."""
    result = {}
    for value in locked.meta.get(INPUTS, []):
        what, _, digest = value.rpartition(" ")
        result[what] = digest
    return result


@dataclass(frozen=True)
class LockPair:
    lock: LockedFile
    build: LockedFile

    @property
    def lock_path(self) -> Path:
        return self.lock.path

    @property
    def build_path(self) -> Path:
        return self.build.path

    @property
    def command(self) -> str:
        return self.lock.command or self.build.command or "lockbuild compile"


def read_pair(lockfile: Path, build_file: Path | None = None) -> LockPair:
    """Read a lockfile and its build constraints file, refusing files that are neither."""
    lock = _read_as(lockfile, "lockfile")
    if not is_lockbuild_file(lock) or lock.first(BUILD_DIGEST) is None:
        if lock.first(LOCK_DIGEST) is not None:
            raise InputError(
                f"{lockfile} is a build constraints file, not a lockfile; "
                f"give the lockfile it belongs to (its pins are what sync installs)"
            )
        raise InputError(
            f"{lockfile} is not a lockfile written by lockbuild compile "
            f"(no '# {BUILD_DIGEST}:' header line); run lockbuild compile first"
        )
    build_path = build_file or build_file_for(lockfile)
    if not build_path.exists():
        raise InputError(
            f"{build_path}: no such build constraints file (the one beside {lockfile} "
            "is expected; give another with --build-constraints FILE)"
        )
    build = _read_as(build_path, "build constraints file")
    if build.first(LOCK_DIGEST) is None:
        raise InputError(
            f"{build_path} is not a build constraints file written by lockbuild compile "
            f"(no '# {LOCK_DIGEST}:' header line)"
        )
    return LockPair(lock, build)


def _read_as(path: Path, what: str) -> LockedFile:
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a {what}")
    try:
        return read_lockfile(path, what=what)
    except InputError as exc:
        if "no such" in exc.message:
            raise
        detail = exc.message.removeprefix(f"{path}").lstrip(": ")
        raise InputError(f"{path} is not a {what} ({detail})") from None


def check_pair(pair: LockPair) -> None:
    """Refuse a pair that does not belong together or whose inputs changed since compile."""
    lock_name = display_path(pair.lock_path)
    fix = f"recompile both with: {pair.command}"
    problems = pair_problems(pair.lock, pair.build)
    if problems:
        raise StaleError(f"{problems[0]}; {fix}")
    base = pair.lock_path.parent
    for what, digest in recorded_inputs(pair.lock).items():
        if not what or what == "options" or not digest.startswith("sha256:"):
            continue
        path = base / what
        if not path.is_file():
            continue  # inputs not at hand: nothing to compare
        actual = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            raise StaleError(
                f"{display_path(path)} changed since {lock_name} was compiled; "
                f"recompile with: {pair.command}"
            )
