"""The pair check: each file of a pair records a digest of every field of the others
(model.py), so that ``check``, ``sync`` and ``wheelhouse`` refuse a pair that was not
compiled together or was edited since, and name the field that changed. The digests
guard against edits and mix-ups, not against someone who rewrites every file and
recomputes them (nothing offline could).

``read_pair`` and ``check_pair`` are what sync and wheelhouse start from: the files read
(refusing files that are none of a pair), then checked against each other and against
the inputs recorded in the lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lockbuild.errors import InputError, StaleError
from lockbuild.lock.formats import build_file_for, parse_lock, read_lock, twin_for
from lockbuild.lock.model import (
    BUILD_DIGEST,
    BUILD_TEXT_DIGEST,
    INPUTS,
    LOCK_DIGEST,
    LockedFile,
    content_digest,
    file_problems,
    is_lockbuild_file,
)
from lockbuild.spec import display_path


def two_problems(lock: LockedFile, other: LockedFile, recorded: str | None) -> list[str]:
    """Why ``lock`` and ``other`` (which records ``LOCK_DIGEST`` of it, while ``lock``
    records ``recorded`` of it) do not belong together.

    An edit of one file leaves the digest it records of the other intact; when neither
    file is the one the other recorded, they come from two compiles."""
    lock_problems = file_problems(lock, other.first(LOCK_DIGEST), other)
    other_problems = file_problems(other, recorded, lock)
    for problems, locked in ((lock_problems, lock), (other_problems, other)):
        if problems and not problems[0].startswith(display_path(locked.path)):
            return problems[:1]  # a missing or older digest: nothing to compare
    if lock_problems and other_problems:
        return [
            f"{display_path(lock.path)} and {display_path(other.path)} were not compiled together"
        ]
    return lock_problems + other_problems


def pair_problems(lock: LockedFile, build: LockedFile, twin: LockedFile | None = None) -> list[str]:
    """Why the files of a pair do not belong together (empty when they do): the build
    file, and the text build file when the lock records one (``twin``)."""
    problems = two_problems(lock, build, lock.first(BUILD_DIGEST))
    if problems:
        return problems
    recorded = lock.first(BUILD_TEXT_DIGEST)
    if twin is None:
        if recorded is not None:
            return [f"{display_path(lock.path)} has a text build file that was not read"]
        return []
    return two_problems(lock, twin, recorded)


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
    twin: LockedFile | None = None  # pylock's text build file

    @property
    def lock_path(self) -> Path:
        return self.lock.path

    @property
    def build_path(self) -> Path:
        return self.build.path

    @property
    def command(self) -> str:
        return self.lock.command or self.build.command or "lockbuild compile"

    def problems(self) -> list[str]:
        return pair_problems(self.lock, self.build, self.twin)


def read_pair(lockfile: Path, build_file: Path | None = None) -> LockPair:
    """Read every file of a pair, refusing files that are none of one."""
    lock = _read_as(lockfile, "lockfile")
    if not is_lockbuild_file(lock) or lock.first(BUILD_DIGEST) is None:
        if lock.first(LOCK_DIGEST) is not None:
            raise InputError(
                f"{lockfile} is a build constraints file, not a lockfile; "
                f"give the lockfile it belongs to (its pins are what sync installs)"
            )
        # A pip-compile lockfile records its command: the same one, run by lockbuild.
        words = lock.command.split(maxsplit=1)
        fix = (
            "lockbuild compile" + (f" {words[1]}" if len(words) > 1 else "")
            if words and words[0] == "pip-compile"
            else "lockbuild compile"
        )
        raise InputError(
            f"{lockfile} is not a lockfile written by lockbuild compile "
            f"(no '# {BUILD_DIGEST}:' header line); run: {fix}"
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
    twin_path = twin_for(lockfile)
    twin = None
    if twin_path is not None:
        if not twin_path.exists():
            raise StaleError(
                f"{display_path(twin_path)} does not exist (the text build file of "
                f"{display_path(lockfile)}); recompile with: {lock.command or 'lockbuild compile'}"
            )
        twin = _read_as(twin_path, "build constraints file")
    return LockPair(lock, build, twin)


def _read_as(path: Path, what: str) -> LockedFile:
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a {what}")
    try:
        return read_lock(path, what=what)
    except InputError as exc:
        if "no such" in exc.message:
            raise
        detail = exc.message.removeprefix(f"{path}").lstrip(": ")
        raise InputError(f"{path} is not a {what} ({detail})") from None


def check_pair(pair: LockPair) -> None:
    """Refuse a pair that does not belong together or whose inputs changed since compile."""
    lock_name = display_path(pair.lock_path)
    fix = f"recompile both with: {pair.command}"
    problems = pair.problems()
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


def text_digest(text: str, name: str = "requirements.txt") -> str:
    """The digest a pair records of a file with this text (``name`` gives the format)."""
    return content_digest(parse_lock(text, Path(name)))
