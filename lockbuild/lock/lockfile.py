"""The two output files — a pip-compile style lockfile and a build constraints file —
written from the graph, and read back for sync, check and why."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.atomic import check_writable, locked_dirs, replace_all, signals_deferred, temp_beside
from lockbuild.credentials import redact_text
from lockbuild.errors import InputError

if TYPE_CHECKING:
    from lockbuild.resolve.graph import Pin

LOCK_DIGEST = "lockbuild-lock-digest"
BUILD_DIGEST = "lockbuild-build-digest"
INPUTS = "lockbuild-inputs"
TARGET = "lockbuild-target"
BUILD_HOOKS = "lockbuild-build-hooks"
NOTE_PREFIXES = ("held back (newest ",)  # pin annotations besides "via" (heldback.py)
EXCLUDE_NEWER = "lockbuild-exclude-newer"
# One line per pin built from an sdist on the target: "name==version filename sha256:hex".
SDIST = "lockbuild-sdist"
AS_OF_RELEASE = "lockbuild-build-deps-as-of-release"
HOST_HOOKS = "lockbuild-hooks-ran-on-this-host"
# --build-deps-for all: "name==version: reason" for each release installed from a wheel
# whose build requirements do not fit the lock (no build side for it in the build file).
NOT_BUILDABLE = "lockbuild-not-buildable"


def build_file_for(lockfile: Path) -> Path:
    """``requirements.txt`` -> ``requirements-build.txt``, ``a/dev.txt`` -> ``a/dev-build.txt``;
    ``pylock.toml`` -> ``pylock.build.toml`` (see pylock.py)."""
    from lockbuild.lock import pylock

    if pylock.is_pylock(lockfile):
        return pylock.build_file_for(lockfile)
    suffix = lockfile.suffix or ".txt"
    stem = lockfile.name[: -len(lockfile.suffix)] if lockfile.suffix else lockfile.name
    return lockfile.with_name(f"{stem}-build{suffix}")


def pins_digest(pins: Iterable[tuple[str, str]]) -> str:
    """A digest of ``name==version`` pins, independent of order and annotations."""
    lines = sorted(f"{canonicalize_name(n)}=={v}" for n, v in pins)
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One pinned line and its annotations, ready to be written."""

    pin: Pin
    via: tuple[str, ...]
    hashes: tuple[str, ...] = ()
    line: str = ""  # the requirement as written, when not plain name==version
    notes: tuple[str, ...] = ()  # comments written before "# via" ("held back ...")

    def render(self, newline: str = "\n") -> str:
        text = self.line or f"{self.pin.name}=={self.pin.version}"
        if self.hashes:
            parts = [text, *(f"--hash=sha256:{h}" for h in self.hashes)]
            text = f" \\{newline}    ".join(parts)
        lines = [text]
        # Before the via list: readers that know nothing of notes skip them there.
        lines.extend(f"    # {note}" for note in self.notes)
        if len(self.via) == 1:
            lines.append(f"    # via {self.via[0]}")
        elif self.via:
            lines.append("    # via")
            lines.extend(f"    #   {v}" for v in self.via)
        return newline.join(lines) + newline


@dataclass(frozen=True)
class Header:
    """What the lockfile's header records."""

    command: str
    python: str
    target: str
    inputs: tuple[tuple[str, str], ...]  # (what, digest)
    options: tuple[str, ...]  # option lines (redacted), written before the pins
    build_hooks: bool = True
    exclude_newer: str | None = None  # the cut-off as written ("7 days" stays "7 days")
    sdists: tuple[str, ...] = ()  # SDIST lines: the pins sync builds from source
    as_of_release: bool = False
    # Dynamic build requirements a hook computed on this host for another target.
    host_hooks: tuple[str, ...] = ()
    # --build-deps-for all: releases installed from wheels whose build side does not fit.
    unbuildable: tuple[str, ...] = ()


def _header_lines(title: str, header: Header) -> list[str]:
    lines = [
        "#",
        f"# {title} by lockbuild with Python {header.python}",
        "# by the following command:",
        "#",
        f"#    {header.command}",
        "#",
        f"# {TARGET}: {header.target}",
    ]
    for what, digest in header.inputs:
        lines.append(f"# {INPUTS}: {what} {digest}")
    for sdist in header.sdists:
        lines.append(f"# {SDIST}: {sdist}")
    if not header.build_hooks:
        lines.append(f"# {BUILD_HOOKS}: off (static build requirements only)")
    if header.exclude_newer:
        lines.append(f"# {EXCLUDE_NEWER}: {header.exclude_newer}")
    if header.as_of_release:
        lines.append(
            f"# {AS_OF_RELEASE}: on (build requirements uploaded no later than each sdist)"
        )
    return lines


def render_lockfile(
    header: Header, entries: Sequence[Entry], build_digest: str, newline: str = "\n"
) -> str:
    lines = _header_lines("This file is autogenerated", header)
    lines.append(f"# {BUILD_DIGEST}: {build_digest}")
    lines.append("#")
    out = newline.join(lines) + newline
    if header.options:
        # redact_text, not redact: each line is an option followed by its URL.
        out += newline.join(redact_text(o) for o in header.options) + newline
    out += newline
    out += "".join(e.render(newline) for e in entries)
    return out


def render_build_file(
    header: Header,
    entries: Sequence[Entry],
    lock_name: str,
    build_name: str,
    lock_digest: str,
    newline: str = "\n",
) -> str:
    lines = _header_lines("Build constraints autogenerated", header)
    for item in header.host_hooks:
        lines.append(f"# {HOST_HOOKS}: {item}")
    for item in header.unbuildable:
        lines.append(f"# {NOT_BUILDABLE}: {item}")
    lines += [
        f"# {LOCK_DIGEST}: {lock_digest}",
        "#",
        f"# Every project that goes into a build environment while installing {lock_name},",
        "# pinned to one version together with the runtime pins. Install with one of:",
        "#",
        f"#    pip install --build-constraint {build_name} -r {lock_name}    (pip 25.3 and later)",
        f"#    PIP_CONSTRAINT={build_name} pip install -r {lock_name}    (older pip)",
        f"#    uv pip install --build-constraints {build_name} -r {lock_name}",
        "#    lockbuild sync " + lock_name,
        "#",
    ]
    out = newline.join(lines) + newline
    if not entries:
        out += "# (no sdist is built: nothing to pin)" + newline
        return out
    out += newline + "".join(e.render(newline) for e in entries)
    return out


def newline_of(path: Path) -> str:
    """The line ending an existing file uses (so rewrites keep it); '\\n' for a new file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return "\n"
    return "\r\n" if b"\r\n" in head else "\n"


def write_pair(files: Mapping[Path, str]) -> None:
    """Write several files so each is replaced atomically, only after all were written.

    An interrupt while the new contents are written leaves the old files and no temporary
    files; the renames run with signals held and a lock on the directories, so neither a
    Ctrl-C nor a concurrent run can leave one old and one new file.
    """
    temps: list[tuple[str, Path]] = []
    check_writable(files)
    try:
        for path, text in files.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = temp_beside(path)
            except OSError as exc:
                raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
            temps.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(OSError):
                mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
                os.chmod(tmp, mode)
        with locked_dirs(files), signals_deferred():
            check_writable(files)  # again: the directories may have changed meanwhile
            replace_all(temps)
            temps = []
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# --- reading -------------------------------------------------------------------------
@dataclass(frozen=True)
class LockedPin:
    name: NormalizedName
    version: str
    line: str  # the requirement text (without hashes)
    via: tuple[str, ...]
    hashes: tuple[str, ...] = ()
    lineno: int = 0
    notes: tuple[str, ...] = ()  # e.g. "held back (newest 2.0): ..."


@dataclass(frozen=True)
class Via:
    """One ``# via`` annotation of a pin, read: ``parent`` requires it (``build``: for
    its build environment). ``kind`` says what the parent is: ``pin`` (a canonical
    project name pinned in the pair), ``input`` (``-r FILE`` or ``name (pyproject.toml)``),
    ``constraint`` (``-c FILE``) or ``override`` (a build override)."""

    parent: str
    build: bool
    kind: str


def parse_via(text: str) -> Via:
    """A ``# via`` entry as compile writes it (outputs.py)."""
    text = text.strip()
    if text == "build override":
        return Via(text, True, "override")
    if text.startswith("-c "):
        return Via(text[3:], False, "constraint")
    build = text.endswith("(build)")
    parent = text.removesuffix("(build)").strip() if build else text
    if parent.startswith("-r "):
        return Via(parent[3:], build, "input")
    if parent.endswith(")") and " (" in parent:
        return Via(parent, build, "input")  # a project input: "name (pyproject.toml)"
    return Via(canonicalize_name(parent), build, "pin")


@dataclass
class LockedFile:
    path: Path
    pins: dict[NormalizedName, LockedPin] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)
    command: str = ""
    # (line number, text) of every line that shapes an install or a check: the command,
    # the lockbuild-* header lines (but the two pair digests), option lines and
    # requirement lines with their hashes (continuations joined, whitespace collapsed).
    content: list[tuple[int, str]] = field(default_factory=list)

    def pin_pairs(self) -> list[tuple[str, str]]:
        return [(p.name, p.version) for p in self.pins.values()]

    def first(self, key: str) -> str | None:
        values = self.meta.get(key)
        return values[0] if values else None


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*===?\s*([^\s;\\]+)")
_URL_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*@\s*(\S+)")


@dataclass
class _Pending:
    name: str
    version: str
    line: str
    hashes: list[str]
    lineno: int
    via: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_lockfile(path: Path, *, what: str = "lockfile") -> LockedFile:
    """Parse a lockfile or build file written by lockbuild (or pip-compile); a pylock
    pair (PEP 751) is read into the same shape."""
    if path.name.startswith("pylock.") and path.name.endswith(".toml"):
        from lockbuild.lock import pylock

        return pylock.read(path, what)
    return parse_lockfile(read_text(path, what), path)


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a lock file, or a one-line error naming it as ``what``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from None


def parse_lockfile(text: str, path: Path) -> LockedFile:
    """Parse the text of a lockfile or build file; ``path`` names it in errors."""
    result = LockedFile(path)
    lines = text.splitlines()
    current: _Pending | None = None
    in_via = False
    command_next = False
    finished: list[_Pending] = []
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        while raw.rstrip().endswith("\\") and i < len(lines):
            raw = raw.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
        stripped = raw.strip()
        if not stripped:
            in_via = False
            continue
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if raw.startswith("    #") and current is not None:
                if in_via and raw.startswith("    #   "):
                    current.via.append(body)  # an item, even one named "via..."
                elif not in_via and body.startswith(NOTE_PREFIXES):
                    current.notes.append(body)
                elif body == "via" or body.startswith("via "):
                    rest = body[3:].strip()
                    in_via = not rest
                    if rest:
                        current.via.append(rest)
                elif in_via:
                    current.via.append(body)
                continue
            if command_next and body:
                result.command = body
                result.content.append((lineno, body))
                command_next = False
            if body == "by the following command:":
                command_next = True
            key, sep, value = body.partition(":")
            if sep and key.startswith("lockbuild-"):
                result.meta.setdefault(key, []).append(value.strip())
                if key not in (LOCK_DIGEST, BUILD_DIGEST):
                    result.content.append((lineno, f"{key}: {value.strip()}"))
            continue
        in_via = False
        result.content.append((lineno, " ".join(stripped.split())))
        if stripped.startswith("-") and not stripped.startswith("-e"):
            result.options.append(stripped)
            current = None
            continue
        requirement, hashes = _split_hashes(stripped)
        name, version = _pin_of(requirement)
        if name is None:
            raise InputError(f"{path} line {lineno}: not a pinned requirement: {stripped[:80]}")
        current = _Pending(name, version, requirement, hashes, lineno)
        finished.append(current)
    for item in finished:
        pin = LockedPin(
            name=canonicalize_name(item.name),
            version=item.version,
            line=item.line,
            via=tuple(item.via),
            hashes=tuple(item.hashes),
            lineno=item.lineno,
            notes=tuple(item.notes),
        )
        if pin.name in result.pins:
            raise InputError(f"{path} line {pin.lineno}: {pin.name} is pinned twice")
        result.pins[pin.name] = pin
    return result


def _split_hashes(text: str) -> tuple[str, list[str]]:
    hashes = re.findall(r"--hash[=\s]+sha256:([0-9a-fA-F]{64})", text)
    requirement = re.split(r"(?<=\s)--hash", text, maxsplit=1)[0].strip()
    return requirement, [h.lower() for h in hashes]


def _pin_of(requirement: str) -> tuple[str | None, str]:
    match = _PIN.match(requirement)
    if match:
        return match.group(1), match.group(3)
    match = _URL_PIN.match(requirement)
    if match:
        return match.group(1), ""
    if requirement.startswith("-e"):
        egg = re.search(r"#egg=([A-Za-z0-9._-]+)", requirement)
        return (egg.group(1) if egg else requirement.split()[-1]), ""
    return None, ""


def is_lockbuild_file(locked: LockedFile) -> bool:
    return TARGET in locked.meta
