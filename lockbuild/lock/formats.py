"""The two formats of the lock model, chosen by file name in one place: a lock is read by
``read_lock`` whatever its format, and a compile's ``Locked`` is rendered by
``render_pair`` into every file of its pair, with the digests each file records about
the others computed over the model as read back — the same coverage in both formats.

The text format is ``requirements.txt`` + ``requirements-build.txt``; the pylock format
(PEP 751) is ``pylock.toml`` + ``pylock.build.toml`` + ``pylock.build.txt``, the last a
text build file checked as the text format's is."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockbuild.credentials import redact_text
from lockbuild.lock import lockfile
from lockbuild.lock.model import (
    BUILD_DIGEST,
    BUILD_TEXT_DIGEST,
    LOCK_DIGEST,
    Locked,
    LockedFile,
    content_digest,
    read_text,
)
from lockbuild.spec import display_path

Renderer = Callable[[Locked, Path, Path, dict[str, str]], dict[Path, str]]


def _render_text(
    locked: Locked, lock: Path, build: Path, digests: dict[str, str]
) -> dict[Path, str]:
    header = locked.header
    return {
        lock: lockfile.render_lockfile(
            header,
            locked.lock_entries,
            digests.get(BUILD_DIGEST, ""),
            locked.newline or lockfile.newline_of(lock),
            locked.style,
        ),
        build: lockfile.render_build_file(
            header,
            locked.build_entries,
            display_path(lock),
            display_path(build),
            digests.get(LOCK_DIGEST, ""),
            locked.newline or lockfile.newline_of(build),
        ),
    }


@dataclass(frozen=True)
class Format:
    """What differs between the formats: file names, the reader and the renderer."""

    name: str
    build_file_for: Callable[[Path], Path]
    # A third file of the pair (pylock's text build file), or None.
    twin_for: Callable[[Path], Path | None]
    parse: Callable[[str, Path], LockedFile]
    render: Renderer
    # Whether the lock lists each pin's file (URL, size, upload time), not only hashes.
    lists_files: bool


TEXT = Format(
    "text", lockfile.build_file_for, lambda _: None, lockfile.parse_lockfile, _render_text, False
)
# The pylock format's names are told apart here; its reader and renderer (and tomllib)
# are imported only when a pylock file is read or written (start-up speed).
_NAMED = re.compile(r"^pylock\.([^.]+)\.toml$")
_BUILD = re.compile(r"^pylock\.([^.]+\.)?build\.toml$")


def is_pylock(path: Path) -> bool:
    """``pylock.toml``, ``pylock.NAME.toml`` or one of their build files."""
    return bool(path.name == "pylock.toml" or _NAMED.match(path.name))


def is_pylock_build_file(path: Path) -> bool:
    """``pylock.build.toml`` or ``pylock.NAME.build.toml``."""
    return bool(_BUILD.match(path.name))


def pylock_build_file_for(lock: Path) -> Path:
    """``pylock.toml`` -> ``pylock.build.toml``; ``pylock.NAME.toml`` -> its ``.build.toml``."""
    return lock.with_name(lock.name[: -len(".toml")] + ".build.toml")


def text_build_file_for(lock: Path) -> Path:
    """The requirements-text twin of a pylock build file (for pip's and uv's flags)."""
    return lock.with_name(lock.name[: -len(".toml")] + ".build.txt")


def _parse_pylock(text: str, path: Path) -> LockedFile:
    from lockbuild.lock import pylock  # start-up speed, as above

    return pylock.parse(text, path)


def _render_pylock(
    locked: Locked, lock: Path, build: Path, digests: dict[str, str]
) -> dict[Path, str]:
    from lockbuild.lock import pylock  # start-up speed, as above

    return pylock.render_files(locked, lock, build, text_build_file_for(lock), digests)


PYLOCK = Format(
    "pylock", pylock_build_file_for, text_build_file_for, _parse_pylock, _render_pylock, True
)


def format_of(path: Path) -> Format:
    """The format of a lock file (or of its build file), by its name."""
    if is_pylock(path) or is_pylock_build_file(path):
        return PYLOCK
    return TEXT


def build_file_for(lock: Path) -> Path:
    """The build file beside a lock: ``requirements.txt`` -> ``requirements-build.txt``,
    ``pylock.toml`` -> ``pylock.build.toml``."""
    return format_of(lock).build_file_for(lock)


def twin_for(lock: Path) -> Path | None:
    """The third file of a lock's pair, when its format has one (``pylock.build.txt``)."""
    return format_of(lock).twin_for(lock)


def read_lock(path: Path, *, what: str = "lockfile") -> LockedFile:
    """Any file of a pair, of either format, read into the lock model."""
    return parse_lock(read_text(path, what), path)


def parse_lock(text: str, path: Path) -> LockedFile:
    """The text of a file of a pair, read as the format its name says."""
    return format_of(path).parse(text, path)


def render_pair(locked: Locked, lock: Path, build: Path) -> dict[Path, str]:
    """Every file of the pair, redacted, each recording the digests of the others.

    Redaction is here, where the text of every file lockbuild writes a lock into is made
    (and before the digests, so they cover what is written): no password or token in a
    URL reaches a lock file or the cache that keeps a compile's result."""
    render = format_of(lock).render

    def draft(digests: dict[str, str]) -> dict[Path, str]:
        return {
            path: redact_text(text) for path, text in render(locked, lock, build, digests).items()
        }

    # The digest fields are not covered, so a draft without them digests the same.
    first = draft({})
    digest = {path: content_digest(parse_lock(text, path)) for path, text in first.items()}
    twin = twin_for(lock)
    digests = {LOCK_DIGEST: digest[lock], BUILD_DIGEST: digest[build]}
    if twin is not None:
        digests[BUILD_TEXT_DIGEST] = digest[twin]
    return draft(digests)
