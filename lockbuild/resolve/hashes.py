"""Hashes of the pinned files: every file of each pinned version (--generate-hashes),
the --hash of an input line checked against the version locked, and the file each pin
installs on the target (what a pylock file lists)."""

from __future__ import annotations

from collections.abc import Iterable

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.errors import InputError
from lockbuild.index.client import IndexClient
from lockbuild.model import DistFile, FileRecord
from lockbuild.resolve import graph as graphs
from lockbuild.spec import Spec


def file_hashes(graph: graphs.DiGraph, client: IndexClient) -> dict[str, tuple[str, ...]]:
    """sha256 of every file of each pinned version, wheels for other targets included
    (as pip-compile writes them)."""
    result: dict[str, tuple[str, ...]] = {}
    for name, data in graph.nodes(data=True):
        pin = data.get("pin")
        if pin is None:
            continue
        candidate = pin.candidate
        files: tuple[DistFile, ...]
        if candidate.url:
            files = (candidate.dist,) if candidate.dist else ()
        else:
            files = client.version_files(name, candidate.version)
        result[name] = tuple(sorted({client.file_hash(f) for f in files if f is not None}))
    return result


def scoped_hashes(
    graph: graphs.DiGraph, environments: Iterable[Iterable[tuple[str, str]]], client: IndexClient
) -> tuple[str, ...]:
    """``name==version sha256:hex ...`` for each pin of a scoped build environment that
    the graph does not pin at that version (--generate-hashes)."""
    lines: dict[str, None] = {}
    for pins in environments:
        for name, version in pins:
            pin = graph.nodes[name].get("pin") if name in graph else None
            if pin is not None and pin.version == version:
                continue
            files = client.version_files(NormalizedName(name), Version(version))
            digests = sorted({client.file_hash(f) for f in files if f is not None})
            lines[f"{name}=={version} " + " ".join(f"sha256:{d}" for d in digests)] = None
    return tuple(sorted(lines))


def check_input_hashes(
    spec: Spec, graph: graphs.DiGraph, client: IndexClient, all_files: bool
) -> None:
    """``--hash`` on an input line, as pip reads it: a file of the version locked for
    that project must have one of the hashes given."""
    for item in (*spec.requirements, *spec.constraints):
        if not item.hashes or item.name not in graph.nodes:
            continue
        pin = graph.nodes[item.name].get("pin")
        if pin is None:
            continue
        version = pin.candidate.version
        if all_files:
            files = client.version_files(item.name, version)
        else:
            files = tuple(f for f in client.files(item.name) if f.version == version)
        if not {client.file_hash(f) for f in files} & set(item.hashes):
            raise InputError(
                f"{item.origin}: --hash for {item.name}: no file of {item.name} {version} "
                "(the version locked) has that hash"
            )


def file_records(graph: graphs.DiGraph, client: IndexClient) -> dict[str, FileRecord]:
    """The file each pin installs on the target, with its hash (what a pylock file lists)."""
    records: dict[str, FileRecord] = {}
    for pin in graphs.pins(graph, graph.nodes):
        dist = pin.candidate.dist
        if dist is None:
            continue
        records[pin.name] = FileRecord(
            filename=dist.filename,
            url=dist.url,
            sha256=client.file_hash(dist),
            size=dist.size,
            upload_time=dist.upload_time,
            is_wheel=dist.is_wheel,
        )
    return records
