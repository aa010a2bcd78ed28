"""PEP 751 output: ``pylock.toml`` for the runtime set and ``pylock.build.toml`` beside it
for every build pin, read back for sync, check and why.

PEP 751 has no place for build dependencies, and what lives under ``[tool]`` must not
change what is installed. So the build side is a lock of its own in the same form
(``pylock.build.toml``; ``pylock.NAME.toml`` -> ``pylock.NAME.build.toml``), and what
lockbuild needs to read the pair back as it reads the text pair (the command, target,
input digests, the digest each file keeps of the other's pins, ``via`` annotations,
which sdist is built against which build pins) is kept under ``[tool.lockbuild]``.
pip and uv take build constraints only as requirements text, so compile also writes the
build pins as a text build file (``pylock.build.txt``), for installing without lockbuild.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name

from lockbuild import __version__
from lockbuild.errors import InputError
from lockbuild.lock.lockfile import newline_of, render_build_file
from lockbuild.lock.model import (
    AS_OF_RELEASE,
    BUILD_DIGEST,
    BUILD_HOOKS,
    BUILD_TEXT_DIGEST,
    EXCLUDE_NEWER,
    HELD_BACK,
    HOST_HOOKS,
    INDEX_STRATEGY,
    INPUTS,
    LOCK_DIGEST,
    NOT_BUILDABLE,
    SCOPED,
    SCOPED_HASHES,
    SDIST,
    TARGET,
    Entry,
    Field,
    Header,
    Locked,
    LockedFile,
    LockedPin,
    read_text,
)
from lockbuild.model import FileRecord
from lockbuild.spec import display_path
from lockbuild.target import Target

if TYPE_CHECKING:
    import tomlkit  # imported where a pylock file is written


def environment_marker(target: Target) -> str:
    """The marker that holds exactly where the lock was made for."""
    env = dict(target.identity())
    parts = [
        f'{key} == "{env[key]}"'
        for key in ("implementation_name", "python_version", "sys_platform", "platform_machine")
        if env.get(key)
    ]
    return " and ".join(parts)


def _package(entry: Entry, record: FileRecord | None, out_dir: Path) -> tomlkit.items.Table:
    import tomlkit  # start-up speed: only a pylock file being written needs it

    pin = entry.pin
    table = tomlkit.table()
    table.add("name", str(pin.name))
    candidate = pin.candidate
    if candidate.url:
        _direct(table, entry, record, out_dir)
    else:
        table.add("version", pin.version)
        if record is None:
            raise InputError(f"{pin.name} {pin.version}: no file to record in the pylock file")
        item = tomlkit.table()
        item.add("name", record.filename)
        if record.upload_time is not None:
            item.add("upload-time", record.upload_time.astimezone(UTC))
        item.add("url", record.url)
        if record.size is not None:
            item.add("size", record.size)
        hashes = tomlkit.inline_table()
        hashes.add("sha256", record.sha256)
        item.add("hashes", hashes)
        if record.is_wheel:
            wheels = tomlkit.aot()
            wheels.append(item)
            table.add("wheels", wheels)
        else:
            table.add("sdist", item)
    tool = tomlkit.table()
    ours = tomlkit.table()
    if entry.via:
        ours.add("via", list(entry.via))
    if entry.notes:
        ours.add("notes", list(entry.notes))
    if len(ours):
        tool.add("lockbuild", ours)
        table.add("tool", tool)
    return table


def _direct(
    table: tomlkit.items.Table, entry: Entry, record: FileRecord | None, out_dir: Path
) -> None:
    """A direct reference: a local directory (editable or not) or an archive URL."""
    import tomlkit  # start-up speed: only a pylock file being written needs it

    url = entry.pin.candidate.url or ""
    parsed = urlparse(url)
    if parsed.scheme == "file" and Path(unquote(parsed.path)).is_dir():
        directory = tomlkit.table()
        local = Path(unquote(parsed.path))
        try:
            shown = local.resolve().relative_to(out_dir.resolve()).as_posix() or "."
        except ValueError:
            shown = str(local)
        directory.add("path", shown)
        if entry.pin.candidate.editable:
            directory.add("editable", True)
        table.add("directory", directory)
        return
    if parsed.scheme.startswith("git") or "+" in parsed.scheme:
        raise InputError(
            f"{entry.pin.name} @ {url}: a VCS reference cannot be written to a pylock file "
            "by lockbuild (PEP 751 needs its commit id); use the text lockfile"
        )
    if record is None:
        raise InputError(f"{entry.pin.name} @ {url}: no hash known for the pylock file")
    archive = tomlkit.table()
    archive.add("url", url.split("#", 1)[0])
    if record.size is not None:
        archive.add("size", record.size)
    hashes = tomlkit.inline_table()
    hashes.add("sha256", record.sha256)
    archive.add("hashes", hashes)
    table.add("archive", archive)


def _document(
    header_lines: Sequence[str],
    target: Target,
    entries: Sequence[Entry],
    records: Mapping[str, FileRecord],
    out_dir: Path,
    tool: Mapping[str, Any],
) -> str:
    import tomlkit  # start-up speed: only a pylock file being written needs it

    doc = tomlkit.document()
    for line in header_lines:
        doc.add(tomlkit.comment(line))
    doc.add(tomlkit.nl())
    doc.add("lock-version", "1.0")
    doc.add("environments", [environment_marker(target)])
    version = target.python_version
    doc.add("requires-python", f"=={version.major}.{version.minor}.*")
    doc.add("created-by", "lockbuild")
    packages = tomlkit.aot()
    for entry in entries:
        packages.append(_package(entry, records.get(entry.pin.name), out_dir))
    doc.add("packages", packages)
    tool_table = tomlkit.table()
    ours = tomlkit.table()
    for key, value in tool.items():
        ours.add(key, value)
    tool_table.add("lockbuild", ours)
    doc.add("tool", tool_table)
    return tomlkit.dumps(doc)


def _common_tool(header: Header) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "version": __version__,
        "command": header.command,
        "python": header.python,
        "target": header.target,
        "inputs": [[what, digest] for what, digest in header.inputs],
    }
    if header.options:
        tool["index-options"] = list(header.options)
    if not header.build_hooks:
        tool["build-hooks"] = False
    if header.exclude_newer:
        tool["exclude-newer"] = header.exclude_newer
    if header.index_strategy:
        tool["index-strategy"] = header.index_strategy
    if header.sdists:
        tool["sdists"] = list(header.sdists)  # what sync builds itself (builder.py)
    if header.as_of_release:
        tool["build-deps-as-of-release"] = True
    if header.host_hooks:
        tool["hooks-ran-on-this-host"] = list(header.host_hooks)
    if header.unbuildable:
        tool["not-buildable"] = list(header.unbuildable)
    if header.scoped:
        # Builds with an environment of their own ([tool.lockbuild.builds] lists each).
        tool["scoped"] = list(header.scoped)
    if header.scoped_hashes:
        tool["scoped-hashes"] = list(header.scoped_hashes)
    return tool


def _install_lines(lock_name: str, build_name: str, text_build_name: str) -> list[str]:
    return [
        "Install with lockbuild (every sdist is built against the pins of",
        f"{build_name}):",
        f"   lockbuild sync {lock_name}",
        "or without it: pip and uv take build constraints only as requirements text, so",
        f"the same build pins are also written to {text_build_name}:",
        f"   pip install --build-constraint {text_build_name} -r {lock_name}"
        "   (pip 26.1 and later)",
        f"   uv pip install --build-constraints {text_build_name} -r {lock_name}",
    ]


@dataclass(frozen=True)
class Pair:
    """What both files of a pylock pair are written from."""

    header: Header
    target: Target
    records: Mapping[str, FileRecord]
    names: tuple[str, str, str]  # the lock, the build lock, the text build file
    out_dir: Path

    def heading(self, first: str, *more: str) -> list[str]:
        """The comment lines at the top of either file."""
        return [
            f"{first} autogenerated by lockbuild with Python {self.header.python}",
            "by the following command:",
            f"   {self.header.command}",
            *more,
            *_install_lines(*self.names),
        ]

    def document(self, lines: list[str], entries: Sequence[Entry], tool: dict[str, Any]) -> str:
        return _document(lines, self.target, entries, self.records, self.out_dir, tool)


def render_lock(pair: Pair, entries: Sequence[Entry], digests: Mapping[str, str]) -> str:
    """``pylock.toml``: the runtime pins of one target, with the digests of the build lock
    and of the text build file."""
    lines = pair.heading("This file is", f"It locks the runtime set for {pair.header.target}.")
    tool = {
        **_common_tool(pair.header),
        "build-digest": digests.get(BUILD_DIGEST, ""),
        "build-text-digest": digests.get(BUILD_TEXT_DIGEST, ""),
    }
    if pair.header.held_back:
        tool["held-back"] = list(pair.header.held_back)
    return pair.document(lines, entries, tool)


def render_build(
    pair: Pair,
    entries: Sequence[Entry],
    lock_digest: str,
    builds: Mapping[str, Sequence[str]],
) -> str:
    """``pylock.build.toml``: every build pin, and which sdist is built against which."""
    import tomlkit  # start-up speed: only a pylock file being written needs it

    lines = pair.heading(
        "Build lock",
        f"Every project that goes into a build environment while installing {pair.names[0]},",
        "pinned to one version together with the runtime pins. Not meant to be installed",
        "on its own. [tool.lockbuild.builds] lists which build pins each sdist is built",
        "against; the builds in [tool.lockbuild] scoped have an environment of their own",
        "(build-only projects at versions of their own), which lockbuild sync and",
        "lockbuild wheelhouse build them in.",
    )
    builds_table = tomlkit.table()
    for sdist, pins in sorted(builds.items()):
        builds_table.add(sdist, list(pins))
    tool = {**_common_tool(pair.header), "lock-digest": lock_digest, "builds": builds_table}
    return pair.document(lines, entries, tool)


def render_text_build(pair: Pair, entries: Sequence[Entry], lock_digest: str, path: Path) -> str:
    """``pylock.build.txt``: the build pins as requirements text, for pip's and uv's
    build constraint flags; checked as the text build file of a text pair is."""
    text = render_build_file(
        pair.header, entries, pair.names[0], pair.names[2], lock_digest, newline_of(path)
    )
    # Only pip 26.1 and later read pylock.toml, and they take --build-constraint.
    text = text.replace("    (pip 25.3 and later)", "    (pip 26.1 and later)")
    return "".join(line for line in text.splitlines(keepends=True) if "PIP_CONSTRAINT=" not in line)


def render_files(
    locked: Locked, lock: Path, build: Path, twin: Path, digests: Mapping[str, str]
) -> dict[Path, str]:
    """The three files of a pylock pair (``twin``: its text build file), each with the
    digests it records of the others (``digests``: empty for a first draft)."""
    names = (display_path(lock), display_path(build), display_path(twin))
    pair = Pair(locked.header, locked.target, locked.records, names, lock.parent)
    lock_digest = digests.get(LOCK_DIGEST, "")
    return {
        lock: render_lock(pair, locked.lock_entries, digests),
        build: render_build(pair, locked.build_entries, lock_digest, locked.builds),
        twin: render_text_build(pair, locked.build_entries, lock_digest, twin),
    }


# --- reading ------------------------------------------------------------------------------
# [tool.lockbuild] keys that hold the digests of the pair's other files (not covered).
_DIGEST_KEYS = {
    "build-digest": BUILD_DIGEST,
    "lock-digest": LOCK_DIGEST,
    "build-text-digest": BUILD_TEXT_DIGEST,
}


def read(path: Path, what: str = "lockfile") -> LockedFile:
    """A pylock file written by lockbuild, read into the lock model."""
    return parse(read_text(path, what), path)


def parse(text: str, path: Path) -> LockedFile:
    """The text of a pylock file; ``path`` names it in errors and anchors local paths."""
    from packaging.pylock import Pylock, PylockValidationError  # start-up speed

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    try:
        Pylock.from_dict(data)
    except (PylockValidationError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"{path}: not a valid PEP 751 lock file: {message}") from None
    result = LockedFile(path)
    result.content.extend(_fields(data, ""))
    tool = data.get("tool", {}).get("lockbuild", {})
    if not isinstance(tool, dict):
        tool = {}
    _read_meta(result, tool)
    for number, package in enumerate(data.get("packages", []), start=1):
        pin = _read_package(path, number, package)
        if pin.name in result.pins:
            raise InputError(f"{path}: packages[{number}]: {pin.name} is locked twice")
        result.pins[pin.name] = pin
    return result


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _fields(value: Any, key: str) -> Iterator[Field]:
    """Every value of a TOML document, as ``table.key = value`` fields in document order:
    all are covered by the digests, but those digests themselves."""
    if isinstance(value, dict):
        for name, item in value.items():
            if key == "tool.lockbuild" and name in _DIGEST_KEYS:
                continue
            # Keys as TOML writes them: quoted unless bare ("abiext==1.0" under builds).
            shown = name if _BARE.match(name) else json.dumps(name)
            yield from _fields(item, f"{key}.{shown}" if key else shown)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        names = [v.get("name") for v in value]
        by_name = key == "packages" and len(set(names)) == len(names)
        for number, item in enumerate(value, start=1):
            yield from _fields(item, f"{key}[{names[number - 1] if by_name else number}]")
    else:
        yield Field("", f"{key} = {json.dumps(value, default=str, ensure_ascii=False)}")


def _read_meta(result: LockedFile, tool: Mapping[str, Any]) -> None:
    def put(key: str, value: Any) -> None:
        if isinstance(value, str):
            result.meta.setdefault(key, []).append(value)

    put(TARGET, tool.get("target"))
    for item in tool.get("inputs", []) if isinstance(tool.get("inputs"), list) else []:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item):
            put(INPUTS, f"{item[0]} {item[1]}")
    for name, key in _DIGEST_KEYS.items():
        put(key, tool.get(name))
    put(EXCLUDE_NEWER, tool.get("exclude-newer"))
    put(INDEX_STRATEGY, tool.get("index-strategy"))
    held = tool.get("held-back")
    for item in held if isinstance(held, list) else []:
        put(HELD_BACK, item)
    for line in tool.get("sdists", []) if isinstance(tool.get("sdists"), list) else []:
        put(SDIST, line)
    if tool.get("build-deps-as-of-release") is True:
        put(AS_OF_RELEASE, "on")
    hooks = tool.get("hooks-ran-on-this-host")
    for item in hooks if isinstance(hooks, list) else []:
        put(HOST_HOOKS, item)
    unbuildable = tool.get("not-buildable")
    for item in unbuildable if isinstance(unbuildable, list) else []:
        put(NOT_BUILDABLE, item)
    for key, name in ((SCOPED, "scoped"), (SCOPED_HASHES, "scoped-hashes")):
        values = tool.get(name)
        for item in values if isinstance(values, list) else []:
            put(key, item)
    if tool.get("build-hooks") is False:
        put(BUILD_HOOKS, "off")
    if isinstance(tool.get("command"), str):
        result.command = tool["command"]
    options = tool.get("index-options")
    if isinstance(options, list):
        result.options.extend(o for o in options if isinstance(o, str))


def _read_package(path: Path, number: int, package: Mapping[str, Any]) -> LockedPin:
    name = canonicalize_name(str(package["name"]))
    ours = package.get("tool", {}).get("lockbuild", {})
    via = tuple(v for v in ours.get("via", []) if isinstance(v, str))
    notes = tuple(v for v in ours.get("notes", []) if isinstance(v, str))
    files = [*package.get("wheels", [])]
    if "sdist" in package:
        files.append(package["sdist"])
    hashes = tuple(
        str(f["hashes"]["sha256"]).lower()
        for f in files
        if isinstance(f.get("hashes"), dict) and "sha256" in f["hashes"]
    )
    version = str(package.get("version", ""))
    if "directory" in package:
        local = Path(package["directory"]["path"])
        local = local if local.is_absolute() else (path.parent / local)
        url = local.resolve().as_uri()
        if package["directory"].get("editable"):
            line = f"-e {url}#egg={name}"
        else:
            line = f"{name} @ {url}"
        return LockedPin(name, "", line, via, (), number, notes)
    if "archive" in package:
        archive = package["archive"]
        url = str(archive.get("url", ""))
        sha = archive.get("hashes", {}).get("sha256")
        return LockedPin(
            name, "", f"{name} @ {url}", via, (str(sha).lower(),) if sha else (), number, notes
        )
    if not version:
        raise InputError(f"{path}: packages[{number}]: {name} has no version")
    return LockedPin(name, version, f"{name}=={version}", via, hashes, number, notes)
