"""The compiled pair: the lock model (``Locked``) made from the graph and rendered in the
format the output's name asks for (formats.py), the outputs checked before any work and
written together."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from lockbuild.atomic import check_writable
from lockbuild.errors import InputError, UsageError
from lockbuild.indexopts import DEFAULT_STRATEGY, IndexOptions, option_lines, uv_strategy_words
from lockbuild.lock.formats import render_pair
from lockbuild.lock.lockfile import write_pair
from lockbuild.lock.model import Entry, Header, Locked
from lockbuild.model import FileRecord, Kind, Req
from lockbuild.resolve import graph as graphs
from lockbuild.resolve import heldback
from lockbuild.spec import CompileOptions, InputRequirement, Spec
from lockbuild.target import Target


@dataclass(frozen=True)
class CompileResult:
    graph: graphs.DiGraph | None  # None when an earlier identical run was replayed
    lockfile_text: str
    build_text: str
    runtime: frozenset[str]
    build: frozenset[str]
    # Further files written with the pair (the text build file beside a pylock pair).
    extra_files: tuple[tuple[str, str], ...] = ()

    def as_record(self) -> dict[str, Any]:
        return {
            "lockfile_text": self.lockfile_text,
            "build_text": self.build_text,
            "runtime": sorted(self.runtime),
            "build": sorted(self.build),
            "extra_files": [list(item) for item in self.extra_files],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CompileResult | None:
        try:
            return cls(
                None,
                str(record["lockfile_text"]),
                str(record["build_text"]),
                frozenset(map(str, record["runtime"])),
                frozenset(map(str, record["build"])),
                tuple((str(path), str(text)) for path, text in record.get("extra_files", [])),
            )
        except (KeyError, TypeError, ValueError):
            return None


def check_outputs(options: CompileOptions, spec: Spec) -> None:
    """Refuse outputs that would overwrite an input or each other (as pip-compile does),
    or that cannot be files at all, before any work is done."""
    lock, build = options.output_file.resolve(), options.build_output_file.resolve()
    if lock == build:
        raise UsageError(f"{options.output_file}: the lockfile and the build file are one file")
    inputs = {
        *spec.files_read,
        *(p.resolve() for p in options.sources),
        *(p.resolve() for p in options.build_constraint_files),
        *((options.config_file.resolve(),) if options.config_file else ()),
    }
    for output, given in ((lock, options.output_file), (build, options.build_output_file)):
        if output in inputs:
            raise UsageError(f"{given}: is an input; writing it would overwrite the input")
    try:
        check_writable((options.output_file, options.build_output_file))
    except InputError as exc:
        raise UsageError(exc.message) from None


def _label(graph: graphs.DiGraph, node: str) -> str:
    return str(graph.nodes[node].get("label", node))


def _via(
    graph: graphs.DiGraph,
    name: str,
    allowed: set[str],
    constraints: Sequence[Req],
    *,
    label_build: bool,
    overridden: bool = False,
) -> tuple[str, ...]:
    entries: set[str] = set()
    for parent, kinds in graphs.parents(graph, name):
        is_input = graph.nodes[parent].get("input", False)
        if not is_input and parent not in allowed:
            continue
        if Kind.RUNTIME in kinds:
            entries.add(_label(graph, parent))
        if Kind.BUILD in kinds and label_build:
            entries.add(f"{_label(graph, parent)} (build)")
            if overridden:
                entries.add("build override")
    entries |= {c.via for c in constraints if c.name == name and c.via}
    return tuple(sorted(entries))


def render(
    options: CompileOptions,
    spec: Spec,
    graph: graphs.DiGraph,
    index_options: IndexOptions,
    target: Target,
    constraints: Sequence[Req],
    overrides: Sequence[Req],
    hashes: dict[str, tuple[str, ...]],
    digests: tuple[tuple[str, str], ...],
    held: Mapping[str, heldback.HeldBack],
    records: Mapping[str, FileRecord],
    host_hooks: tuple[str, ...] = (),
    unbuildable: tuple[str, ...] = (),
    runtime_held: Mapping[str, heldback.HeldBack] | None = None,
    scoped: tuple[str, ...] = (),
    environments: Mapping[str, Sequence[str]] | None = None,
    scoped_hashes: tuple[str, ...] = (),
) -> CompileResult:
    """Both files; ``scoped`` are the SCOPED header values, ``environments`` every
    build's pins (``name version`` -> pins; from the graph when None)."""
    runtime = graphs.runtime_set(graph)
    build = graphs.build_set(graph)
    out_dir = options.output_file.parent
    direct_lines = {
        item.name: _direct_line(item)
        for item in spec.requirements
        if item.url is not None and not item.project
    }
    overridden = {o.name for o in overrides}
    lock_entries = [
        Entry(
            pin,
            _via(graph, pin.name, runtime, constraints, label_build=False),
            hashes=hashes.get(pin.name, ()),
            line=direct_lines.get(pin.name, ""),
            notes=(held[pin.name].note(),) if pin.name in held else (),
        )
        for pin in graphs.pins(graph, runtime)
    ]
    build_entries = [
        Entry(
            pin,
            _via(
                graph,
                pin.name,
                runtime | build,
                constraints,
                label_build=True,
                overridden=pin.name in overridden,
            ),
            hashes=hashes.get(pin.name, ()),
        )
        for pin in graphs.pins(graph, build)
    ]
    header = Header(
        sdists=_sdist_lines(graph, runtime | build, direct_lines),
        command=options.command,
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        target=target.description,
        inputs=digests,
        options=option_lines(index_options, out_dir),
        build_hooks=options.build_hooks,
        exclude_newer=options.exclude_newer.text.strip() if options.exclude_newer else None,
        as_of_release=options.build_deps_as_of_release,
        host_hooks=host_hooks,
        unbuildable=unbuildable,
        index_strategy=(
            index_options.strategy
            if index_options.several_indexes() or index_options.strategy != DEFAULT_STRATEGY
            else None
        ),
        uv_words=uv_strategy_words(index_options),
        held_back=tuple(h.line() for _, h in sorted((runtime_held or {}).items())),
        scoped=scoped,
        scoped_hashes=scoped_hashes,
    )
    locked = Locked(
        header,
        tuple(lock_entries),
        tuple(build_entries),
        target,
        records,
        environments if environments is not None else graphs.build_environments(graph),
    )
    files = render_pair(locked, options.output_file, options.build_output_file)
    lock_text = files.pop(options.output_file)
    build_text = files.pop(options.build_output_file)
    return CompileResult(
        graph,
        lock_text,
        build_text,
        frozenset(runtime),
        frozenset(build),
        tuple((str(path), text) for path, text in files.items()),
    )


def _sdist_lines(
    graph: graphs.DiGraph, names: set[str], direct: Mapping[NormalizedName, str]
) -> tuple[str, ...]:
    """The pins built from an index's sdist on the target, for sync to build itself:
    ``name==version filename sha256:hex`` (direct references are left to the installer)."""
    lines = []
    for pin in graphs.pins(graph, names):
        dist = pin.candidate.dist
        if not pin.builds or dist is None or dist.is_wheel or pin.name in direct:
            continue
        digest = f" sha256:{dist.sha256}" if dist.sha256 else ""
        lines.append(f"{pin.name}=={pin.version} {dist.filename}{digest}")
    return tuple(lines)


def _direct_line(item: InputRequirement) -> str:
    if item.editable:
        return f"-e {item.url}#egg={item.name}"
    return f"{item.name} @ {item.url}"


def write_outputs(options: CompileOptions, result: CompileResult) -> None:
    files = {
        options.output_file: result.lockfile_text,
        options.build_output_file: result.build_text,
    }
    files.update({Path(path): text for path, text in result.extra_files})
    write_pair(files)
