"""Replaying a compile.

A compile is a function of its inputs (the input files, the existing outputs whose pins
are preferred, the options, the target, lockbuild itself) and of what the index says. When
a compile is asked again with the same inputs, and every index page the earlier run read
is, byte for byte, what the index serves now, the result is the same; it is written again
without resolving. Every page is still fetched (or revalidated) and compared, so a new
release, a yanked file or any other change to a page means a full resolution.

Only runs that read nothing but index pages and files those pages name by sha256 are
recorded: local pages, local projects, direct references and files without a hash make a
run unrepeatable (see ``Fetcher.refuse_replay``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from lockbuild import __version__
from lockbuild.credentials import without_userinfo
from lockbuild.errors import LockbuildError
from lockbuild.index.cache import Cache, sha256_hex
from lockbuild.process import RUN_TOKEN

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lockbuild.index.client import IndexClient
    from lockbuild.lock.model import LockedFile
    from lockbuild.spec import CompileOptions, IndexOptions, Spec
    from lockbuild.target import Target

BUCKET = "resolutions"
FORMAT = 1


@functools.lru_cache(maxsize=1)
def _own_source() -> str:
    """A digest of lockbuild's own code, every module and program of every subpackage: a
    record is never replayed by other code."""
    # Every run that may replay reads all of it: os.walk and os.read, not pathlib's
    # rglob and read_bytes, and no copy of a file's bytes to join it with its name.
    digest = hashlib.sha256()
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found: list[tuple[str, str]] = []
    for root, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        inside = os.path.relpath(root, package).replace(os.sep, "/")
        for file in files:
            if file.endswith(".py"):
                name = file if inside == "." else f"{inside}/{file}"
                found.append((name, os.path.join(root, file)))
    for name, path in sorted(found):
        digest.update(name.encode() + b"\0")
        fd = os.open(path, os.O_RDONLY)
        try:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        finally:
            os.close(fd)
        digest.update(b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _resolver_release() -> str:
    """resolvelib's release, as the digest of its package's __init__ (which states its
    version), read without importing it: a replayed run never resolves."""
    import importlib.util  # start-up speed: only a run key reads it

    spec = importlib.util.find_spec("resolvelib")
    if spec is None or spec.origin is None:  # not a package of files: its own word
        import resolvelib  # start-up speed, as above

        return str(resolvelib.__version__)
    with open(spec.origin, "rb") as file:
        return sha256_hex(file.read())


def _file_state(path: Path) -> str:
    try:
        return sha256_hex(path.read_bytes())
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable: {exc.errno}"


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def run_key(
    options: CompileOptions, spec: Spec, index_options: IndexOptions, target: Target
) -> str:
    """Everything besides the index that the result depends on, as one digest."""
    import packaging  # start-up speed: a check or an early usage error never reads this

    # How the run is carried out, not what it produces, is left out.
    shaping = replace(
        options,
        cache_dir=None,
        quiet=False,
        workers=0,
        offline=False,
        refresh=False,
        replay=True,
        # Where a value came from is not what it does (and a set's repr has no order).
        given=frozenset(),
        configured=frozenset(),
    )
    files = sorted(
        {
            *(p.resolve() for p in spec.files_read),
            *(p.resolve() for p in options.build_constraint_files),
            *([options.config_file.resolve()] if options.config_file else []),
        }
    )
    parts: dict[str, Any] = {
        "format": FORMAT,
        "lockbuild": [__version__, _own_source()],
        "libraries": [packaging.__version__, _resolver_release()],
        # A date or timestamp cut-off as this machine reads it (a bare date is local);
        # a relative one is checked against the record's window instead.
        "cutoff": (
            options.exclude_newer.at().isoformat()
            if options.exclude_newer is not None and not options.exclude_newer.relative
            else None
        ),
        "python": [sys.version, sys.executable],
        "options": repr(shaping),
        "index": repr(sorted((k, repr(v)) for k, v in index_options.__dict__.items())),
        "target": [
            repr(target.environment),
            sha256_hex(" ".join(map(str, target.tags)).encode()),
            target.description,
            target.local,
        ],
        # Where the inputs are, relative to the working directory: a fresh checkout of
        # the same files elsewhere (a CI workspace) locks the same (paths that could
        # differ, such as local projects, make a run unrepeatable).
        "inputs": [[_relative(p), _file_state(p)] for p in files],
        # Existing pins are preferred and the outputs' line endings are kept.
        "outputs": [
            _file_state(options.output_file),
            _file_state(options.build_output_file),
        ],
        # The hook installer, limits, timeouts: a run is never replayed under other ones.
        "settings": sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith("LOCKBUILD_") and k not in ("LOCKBUILD_CACHE_DIR", RUN_TOKEN)
        ),
    }
    return sha256_hex(json.dumps(parts, sort_keys=True).encode())


def replay(
    cache: Cache, key: str, client: IndexClient, moving_cutoff: datetime | None = None
) -> dict[str, Any] | None:
    """The recorded result for ``key`` when every page it read is unchanged; otherwise
    None, with the pages fetched for the comparison handed to ``client`` for reuse.

    ``moving_cutoff`` is a relative cut-off ("7 days") resolved for this run: the record
    holds only while it lies between the recorded run's cut-off and the earliest upload
    that run left out (so no file crossed the cut-off since)."""
    record = cache.get_json(BUCKET, key)
    if not _well_formed(record):
        return None
    if moving_cutoff is not None and not _within_window(record.get("cutoff"), moving_cutoff):
        return None
    pages: dict[str, str | None] = dict(record["pages"])
    client.expect_releases(_recorded_releases(record["result"]))
    fetched = client.fetch_pages(pages)
    # get_page noted the digest of every page it returned: no second pass over the bodies.
    read = client.fetcher.pages_read
    same = len(fetched) == len(pages) and all(read.get(url) == pages[url] for url in fetched)
    for url, page in fetched.items():
        # For checking the record, or for resolving; with the digest get_page noted.
        client.fetcher.preload(url, page, read.get(url))
    return dict(record["result"]) if same else None


def _recorded_releases(result: Any) -> list[tuple[str, Version, bool]]:
    """The releases ``unverified`` will look for on the pages of a recorded result (name,
    version, whether only files the target can use will do); none for a result it will
    refuse anyway, which it then says why."""
    releases: list[tuple[str, Version, bool]] = []
    try:
        for field, label in (("lockfile_text", _LOCK), ("build_text", _BUILD)):
            locked = _parsed(str(result[field]), label)
            for pin in locked.pins.values():
                if not _unserved_by_form(pin.version, pin.line):
                    releases.append((pin.name, Version(pin.version), not pin.hashes))
    except (LockbuildError, KeyError, TypeError, InvalidVersion):
        return []
    return releases


_LOCK, _BUILD = "recorded lockfile", "recorded build file"


@functools.lru_cache(maxsize=2)
def _parsed(text: str, label: str) -> LockedFile:
    """A recorded file, parsed once: for the releases expected before its pages come
    (``_recorded_releases``), and for the check after (``unverified``). Only read."""
    # start-up speed: the lock's readers load only when a record is checked
    from lockbuild.lock.lockfile import parse_lockfile

    return parse_lockfile(text, Path(label))


def _unserved_by_form(version: str, line: str) -> bool:
    """Whether a pin's line is not of a release on an index at all (see _unserved)."""
    return not version or "@" in line or line.startswith("-e")


def recorded_pages(cache: Cache, key: str) -> list[str]:
    """The index pages an identical earlier run read (none when there is no record): a
    run that resolves anyway (``--no-replay``, ``-v``) fetches them ahead of the resolver."""
    record = cache.get_json(BUCKET, key)
    return [url for url, _ in record["pages"]] if _well_formed(record) else []


def record(
    cache: Cache,
    key: str,
    client: IndexClient,
    result: dict[str, Any],
    window: tuple[datetime, datetime | None] | None = None,
) -> None:
    """Keep this run's result with the pages it read, unless the run cannot be replayed.
    ``window``: a relative cut-off as resolved, and the earliest upload it left out."""
    fetcher = client.fetcher
    if fetcher.unrepeatable or not fetcher.pages_read:
        return
    if any(without_userinfo(url) != url for url in fetcher.pages_read):
        return  # credentials are not written to the cache
    pages = [[url, digest] for url, digest in sorted(fetcher.pages_read.items())]
    entry: dict[str, Any] = {"pages": pages, "result": result}
    if window is not None:
        start, first_left_out = window
        entry["cutoff"] = [
            start.isoformat(),
            first_left_out.isoformat() if first_left_out is not None else None,
        ]
    cache.put_json(BUCKET, key, entry)


def _within_window(window: Any, cutoff: datetime) -> bool:
    """Whether ``cutoff`` keeps exactly the files the recorded run kept (see ``replay``)."""
    if not isinstance(window, list) or len(window) != 2:
        return False
    try:
        start = datetime.fromisoformat(window[0])
        end = datetime.fromisoformat(window[1]) if window[1] is not None else None
    except (TypeError, ValueError):
        return False
    # A file is left out when uploaded at or after the cut-off.
    return start <= cutoff and (end is None or cutoff <= end)


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    pages, result = record.get("pages"), record.get("result")
    return (
        isinstance(pages, list)
        and bool(pages)
        and all(
            isinstance(p, list)
            and len(p) == 2
            and isinstance(p[0], str)
            and (p[1] is None or isinstance(p[1], str))
            for p in pages
        )
        and isinstance(result, dict)
    )


@dataclass(frozen=True)
class Expected:
    """The header this run would write: a recorded result must carry exactly this."""

    command: str
    target: str
    inputs: tuple[str, ...]  # the lockbuild-inputs values
    options: tuple[str, ...]  # the option lines, redacted as written


def unverified(
    client: IndexClient, lock_text: str, build_text: str, expected: Expected
) -> str | None:
    """Why a recorded result cannot be written as is (None when it can).

    A record is only as trustworthy as the cache that held it: every pin and hash in it
    must be on the index pages just fetched (a hash must be a file of that release), it
    must name no direct reference, and its header must be the one this run would write.
    So a rewritten record cannot put into a lock what the index does not serve."""
    from lockbuild.lock.pair import pair_problems  # start-up speed, as in _parsed

    try:
        lock = _parsed(lock_text, _LOCK)
        build = _parsed(build_text, _BUILD)
    except LockbuildError as exc:
        return exc.message
    if pair_problems(lock, build):
        return "its two files do not belong together"
    for locked in (lock, build):
        if locked.command != expected.command:
            return "its command is not this run's"
        if locked.targets != (expected.target,):
            return "its target is not this run's"
        if locked.inputs != expected.inputs:
            return "its input digests are not this run's"
    if tuple(lock.options) != expected.options or build.options:
        return "its option lines are not this run's"
    # The pages' own listings (release_files), not what the cache says was read from
    # them: a rewritten cache cannot vouch for a rewritten record.
    for locked in (lock, build):
        for pin in locked.pins.values():
            problem = _unserved(client, pin.name, pin.version, pin.line, pin.hashes)
            if problem:
                return problem
    return None


def _unserved(
    client: IndexClient, name: str, version: str, line: str, hashes: Sequence[str]
) -> str | None:
    """Why ``name==version`` with ``hashes`` is not what the fetched pages serve."""
    if _unserved_by_form(version, line):
        return f"{name} is not pinned to a version on an index ({line[:80]})"
    try:
        wanted = Version(version)
    except InvalidVersion:
        return f"{name}=={version} is not a valid version"
    found = False
    served: set[str] = set()
    try:
        # Enough is one file of the release, or the files of every hash.
        for file in client.release_files(name, wanted, usable=not hashes):
            found = True
            if file.sha256:
                served.add(file.sha256)
            if served.issuperset(hashes):
                break
    except LockbuildError as exc:
        return exc.message
    if not found:
        return f"{name}=={version} is on none of the index pages fetched"
    unknown = [h for h in hashes if h not in served]
    if unknown:
        return f"{name}=={version}: --hash sha256:{unknown[0]} is no file the index serves"
    return None
