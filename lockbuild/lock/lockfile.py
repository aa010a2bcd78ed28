"""The text format of the lock model: a pip-compile style lockfile and its build
constraints file (``requirements.txt`` + ``requirements-build.txt``), rendered from a
``Locked`` and read back into a ``LockedFile``; and the atomic writer of a pair."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from lockbuild.atomic import check_writable, locked_dirs, replace_all, signals_deferred, temp_beside
from lockbuild.errors import InputError
from lockbuild.lock.model import (
    AS_OF_RELEASE,
    BUILD_DIGEST,
    BUILD_HOOKS,
    DIGESTS,
    EXCLUDE_NEWER,
    HELD_BACK,
    HOST_HOOKS,
    INDEX_STRATEGY,
    INPUTS,
    LOCK_DIGEST,
    NOT_BUILDABLE,
    NOTE_PREFIXES,
    SCOPED,
    SCOPED_HASHES,
    SDIST,
    TARGET,
    Entry,
    Field,
    Header,
    LockedFile,
    LockedPin,
    TextStyle,
)


def build_file_for(lockfile: Path) -> Path:
    """``requirements.txt`` -> ``requirements-build.txt``, ``a/dev.txt`` -> ``a/dev-build.txt``."""
    suffix = lockfile.suffix or ".txt"
    stem = lockfile.name[: -len(lockfile.suffix)] if lockfile.suffix else lockfile.name
    return lockfile.with_name(f"{stem}-build{suffix}")


def render_entry(entry: Entry, newline: str = "\n", style: TextStyle | None = None) -> str:
    """One pin with its hashes, notes and ``# via`` lines, as pip-compile's flags in
    ``style`` shape them."""
    style = style or TextStyle()
    text = entry.line or _requirement(entry, style)
    if entry.hashes:
        parts = [text, *(f"--hash=sha256:{h}" for h in entry.hashes)]
        text = f" \\{newline}    ".join(parts)
    via = entry.via if style.annotate else ()
    if style.strip_extras:  # after sorting, duplicates kept: as pip-compile does
        via = tuple(_STRIP_EXTRAS.sub("", v) for v in via)
    if style.annotation_style == "line" and via and not entry.notes:
        # pip-compile's column: the requirement padded to 24, two spaces, the list (on a
        # line of its own under hashes).
        sep = f"{newline}    " if entry.hashes else "  "
        joined = f"{text:24}{sep}# via {', '.join(via)}"
        return newline.join(part.rstrip() for part in joined.split(newline)) + newline
    lines = [text]
    # Before the via list: readers that know nothing of notes skip them there.
    lines.extend(f"    # {note}" for note in entry.notes)
    if len(via) == 1:
        lines.append(f"    # via {via[0]}")
    elif via:
        lines.append("    # via")
        lines.extend(f"    #   {v}" for v in via)
    return newline.join(lines) + newline


_STRIP_EXTRAS = re.compile(r"\[.+?\]")  # pip-compile's own pattern, annotations included
UNSAFE_MESSAGE = "# The following packages are considered to be unsafe in a requirements file:"
UNSAFE_UNPINNED_MESSAGE = (
    "# WARNING: The following packages were not pinned, but pip requires them to be",
    "# pinned when the requirements file includes hashes and the requirement is not",
    "# satisfied by a package already installed. Consider using the --allow-unsafe flag.",
)


def _requirement(entry: Entry, style: TextStyle) -> str:
    extras = (
        f"[{','.join(sorted(entry.extras))}]" if entry.extras and not style.strip_extras else ""
    )
    text = f"{entry.pin.name}{extras}=={entry.pin.version}"
    return f"{text} ; {entry.marker}" if entry.marker else text


def render_entries(entries: Sequence[Entry], style: TextStyle, newline: str) -> str:
    """The pins as pip-compile orders them: editables first, then by name; the unsafe
    packages in a section of their own at the end (pinned, or only named)."""
    ordered = sorted(entries, key=lambda e: (not e.line.startswith("-e"), e.pin.name))
    safe = [e for e in ordered if e.pin.name not in style.unsafe]
    unsafe = [e for e in ordered if e.pin.name in style.unsafe]
    out = "".join(render_entry(e, newline, style) for e in safe)
    if unsafe:
        hashed = any(e.hashes for e in entries)
        message = (
            newline.join(UNSAFE_UNPINNED_MESSAGE)
            if hashed and not style.allow_unsafe
            else UNSAFE_MESSAGE
        )
        out += newline + message + newline
        for e in unsafe:
            if style.allow_unsafe:
                out += render_entry(e, newline, style)
            else:
                out += f"# {e.pin.name}{newline}"
    return out


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
    if header.index_strategy:
        lines.append(f"# {INDEX_STRATEGY}: {header.index_strategy}")
    if header.as_of_release:
        lines.append(
            f"# {AS_OF_RELEASE}: on (build requirements uploaded no later than each sdist)"
        )
    return lines


def uv_install_words(header: Header) -> str:
    """The words, each followed by a space, that a plain ``uv pip install`` of the pair
    needs besides its option lines (uv reads no index strategy from a requirements file)."""
    return "".join(f"{w} " for w in header.uv_words)


def render_lockfile(
    header: Header,
    entries: Sequence[Entry],
    build_digest: str,
    newline: str = "\n",
    style: TextStyle | None = None,
) -> str:
    lines = _header_lines("This file is autogenerated", header)
    lines += [f"# {HELD_BACK}: {line}" for line in header.held_back]
    lines.append(f"# {BUILD_DIGEST}: {build_digest}")
    lines.append("#")
    out = newline.join(lines) + newline
    if header.options:
        # Credentials in them are redacted with the whole file (formats.render_pair).
        out += newline.join(header.options) + newline
        out += newline  # as pip-compile: a blank line only after option lines
    out += render_entries(entries, style or TextStyle(), newline)
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
    for item in header.scoped:
        lines.append(f"# {SCOPED}: {item}")
    for item in header.scoped_hashes:
        lines.append(f"# {SCOPED_HASHES}: {item}")
    lines += [
        f"# {LOCK_DIGEST}: {lock_digest}",
        "#",
        f"# Every project that goes into a build environment while installing {lock_name},",
        "# pinned to one version together with the runtime pins. Install with one of:",
        "#",
        f"#    pip install --build-constraint {build_name} -r {lock_name}    (pip 25.3 and later)",
        f"#    PIP_CONSTRAINT={build_name} pip install -r {lock_name}    (older pip)",
        f"#    uv pip install {uv_install_words(header)}--build-constraints {build_name} "
        f"-r {lock_name}",
        "#    lockbuild sync " + lock_name,
        "#",
    ]
    if header.scoped:
        lines += [
            f"# The {SCOPED} builds above cannot take these pins: each needs its own build",
            "# environment, and pip and uv take one version per project. Install with",
            f"#    lockbuild sync {lock_name}",
            "# or build them first and let pip or uv find the wheels:",
            f"#    lockbuild wheelhouse {lock_name} -o DIR",
            f"#    pip install --find-links DIR --build-constraint {build_name} -r {lock_name}",
            "#",
        ]
    out = newline.join(lines) + newline
    if not entries:
        out += "# (no sdist is built: nothing to pin)" + newline
        return out
    out += newline + "".join(render_entry(e, newline) for e in entries)
    return out


def newline_of(path: Path) -> str:
    """The line ending an existing file uses (so rewrites keep it); '\\n' for a new file."""
    return existing_newline(path) or "\n"


def existing_newline(path: Path) -> str | None:
    """The line ending a file uses; None when it has none (or cannot be read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if b"\r\n" in head:
        return "\r\n"
    return "\n" if b"\n" in head else None


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
                # Annotations are fields too: sync reads a build's environment from them.
                result.content.append(Field(f"line {lineno}", "# " + " ".join(body.split())))
                if in_via and raw.startswith("    #   "):
                    current.via.append(body)  # an item, even one named "via..."
                elif not in_via and body.startswith(NOTE_PREFIXES):
                    current.notes.append(body)
                elif body == "via" or body.startswith("via "):
                    rest = body[3:].strip()
                    in_via = not rest
                    if rest:  # one parent, or --annotation-style line's list
                        current.via.extend(rest.split(", "))
                elif in_via:
                    current.via.append(body)
                continue
            if command_next and body:
                result.command = body
                result.content.append(Field(f"line {lineno}", body))
                command_next = False
            if body == "by the following command:":
                command_next = True
            if " by lockbuild with Python " in body:
                result.content.append(Field(f"line {lineno}", body))
            key, sep, value = body.partition(":")
            if sep and key.startswith("lockbuild-"):
                result.meta.setdefault(key, []).append(value.strip())
                if key not in DIGESTS:
                    result.content.append(Field(f"line {lineno}", f"{key}: {value.strip()}"))
            continue
        in_via = False
        stripped, comment = _inline_comment(stripped)  # "name==1.0  # via a, b"
        result.content.append(Field(f"line {lineno}", " ".join(stripped.split())))
        if comment:  # annotations are fields too, as on lines of their own
            result.content.append(Field(f"line {lineno}", "# " + " ".join(comment.split())))
        if stripped.startswith("-") and not stripped.startswith("-e"):
            result.options.append(stripped)
            current = None
            continue
        requirement, hashes = _split_hashes(stripped)
        name, version = _pin_of(requirement)
        if name is None:
            raise InputError(f"{path} line {lineno}: not a pinned requirement: {stripped[:80]}")
        current = _Pending(name, version, requirement, hashes, lineno)
        if comment == "via" or comment.startswith("via "):
            current.via.extend(v for v in comment[3:].strip().split(", ") if v)
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


def _inline_comment(line: str) -> tuple[str, str]:
    """The line before a comment and the comment's text: a '#' after whitespace starts
    one (pip's rule), found in one pass (a pattern would backtrack over long blanks)."""
    start = 0
    while (found := line.find("#", start)) >= 0:
        if found > 0 and line[found - 1].isspace():
            return line[:found].rstrip(), line[found + 1 :].strip()
        start = found + 1
    return line, ""


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
