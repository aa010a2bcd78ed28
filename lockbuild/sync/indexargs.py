"""Index options to and from installer arguments: the options a lockfile records before
its pins read back, the flags given to sync laid over them, and both written as the
arguments pip and uv take (``--index-url``, ``--find-links``, ``--only-binary`` ...)."""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path

from lockbuild.credentials import unredacted
from lockbuild.lock.model import LockedFile
from lockbuild.spec import IndexOptions

_VALUE_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
    "--only-binary": "only_binary",
    "--no-binary": "no_binary",
    "--trusted-host": "trusted_hosts",
}


def lock_index_options(locked: LockedFile) -> IndexOptions:
    """The index options recorded before the pins; relative --find-links are taken
    relative to the lockfile's directory (where compile wrote them from)."""
    values: dict[str, list[str]] = {key: [] for key in set(_VALUE_OPTIONS.values())}
    no_index = False
    for line in locked.options:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words:
            word = words.pop(0)
            key, eq, inline = word.partition("=")
            if key == "--no-index":
                no_index = True
            elif key in _VALUE_OPTIONS and (eq or words):
                values[_VALUE_OPTIONS[key]].append(inline if eq else words.pop(0))
    base = locked.path.parent
    links = tuple(_link_location(link, base) for link in values["find_links"])
    return IndexOptions(
        index_url=unredacted(values["index_url"][-1]) if values["index_url"] else None,
        extra_index_urls=tuple(unredacted(u) for u in values["extra_index_urls"]),
        find_links=links,
        no_index=no_index,
        only_binary=frozenset(n for v in values["only_binary"] for n in v.split(",") if n),
        no_binary=frozenset(n for v in values["no_binary"] for n in v.split(",") if n),
        trusted_hosts=tuple(values["trusted_hosts"]),
    )


def _link_location(link: str, base: Path) -> str:
    if "://" in link:
        return unredacted(link)
    return link if os.path.isabs(link) else str((base / link).resolve())


def override_index_options(recorded: IndexOptions, given: IndexOptions) -> IndexOptions:
    """Each index flag ``given`` on the command line (index URL, extra index URLs, find
    links, --no-index) replaces what the lockfile recorded for it; an index URL on the
    command line also lifts a recorded --no-index."""
    result = recorded
    if given.index_url is not None:
        result = replace(result, index_url=given.index_url, no_index=False)
    if given.extra_index_urls:
        result = replace(result, extra_index_urls=given.extra_index_urls, no_index=False)
    if given.find_links:
        links = tuple(f if "://" in f else str(Path(f).resolve()) for f in given.find_links)
        result = replace(result, find_links=links)
    if given.no_index:
        result = replace(result, no_index=True)
    return result


def location_args(options: IndexOptions) -> list[str]:
    """Where to look, as pip and uv both spell it: the indexes (or --no-index), the
    find-links locations and the trusted hosts."""
    args: list[str] = []
    if options.no_index:
        args.append("--no-index")
    else:
        if options.index_url:
            args += ["--index-url", options.index_url]
        for url in options.extra_index_urls:
            args += ["--extra-index-url", url]
    for link in options.find_links:
        args += ["--find-links", link]
    for host in options.trusted_hosts:
        args += ["--trusted-host", host]
    return args


def index_args(options: IndexOptions) -> list[str]:
    """The whole of the index options as pip and uv both spell them: where to look, and
    which projects may come only as wheels or only as sdists. (Build environments and
    downloads of wheels take ``location_args`` with ``--only-binary :all:`` instead.)"""
    args = location_args(options)
    if options.only_binary:
        args += ["--only-binary", ",".join(sorted(options.only_binary))]
    if options.no_binary:
        args += ["--no-binary", ",".join(sorted(options.no_binary))]
    return args
