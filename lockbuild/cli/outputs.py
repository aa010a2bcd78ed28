"""The compiled pair: what the resolution produced (``Resolved``) made into the lock model
(``Locked``) and rendered in the format the output's name asks for (formats.py), the
outputs checked before any work and written together. The one step that reads both
``resolve/`` and ``lock/``, so it lives in ``cli/``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.atomic import check_writable
from lockbuild.errors import InputError, UsageError
from lockbuild.indexopts import (
    DEFAULT_STRATEGY,
    IndexOptions,
    emitted,
    option_lines,
    uv_strategy_words,
)
from lockbuild.lock.formats import render_pair
from lockbuild.lock.lockfile import existing_newline, write_pair
from lockbuild.lock.model import UNSAFE_PACKAGES, Entry, Header, Locked, TextStyle
from lockbuild.model import FileRecord, Kind, Req
from lockbuild.spec import CompileOptions, InputRequirement, Spec
from lockbuild.target import Target

if TYPE_CHECKING:
    from lockbuild.resolve import graph as graphs
    from lockbuild.resolve import heldback


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
    from lockbuild.resolve import graph as graphs  # start-up speed, as in render

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


@dataclass(frozen=True)
class Resolved:
    """What compile's resolution produced, as ``render`` takes it: the graph and what was
    read or decided beside it. ``scoped`` are the SCOPED header values, ``environments``
    every build's pins (``name version`` -> pins; from the graph when None)."""

    graph: graphs.DiGraph
    constraints: Sequence[Req]
    overrides: Sequence[Req]
    hashes: dict[str, tuple[str, ...]]
    digests: tuple[tuple[str, str], ...]
    held: Mapping[str, heldback.HeldBack]
    records: Mapping[str, FileRecord]
    host_hooks: tuple[str, ...] = ()
    unbuildable: tuple[str, ...] = ()
    runtime_held: Mapping[str, heldback.HeldBack] | None = None
    scoped: tuple[str, ...] = ()
    environments: Mapping[str, Sequence[str]] | None = None
    scoped_hashes: tuple[str, ...] = ()
    project_build: Mapping[str, Sequence[tuple[str, tuple[str, ...]]]] | None = None


def render(
    options: CompileOptions,
    spec: Spec,
    index_options: IndexOptions,
    target: Target,
    resolved: Resolved,
) -> CompileResult:
    """Both files, rendered from what the resolution produced."""
    # start-up speed: a replayed run writes a recorded result, without the resolve side
    from lockbuild.resolve import graph as graphs

    graph = resolved.graph
    constraints = resolved.constraints
    overrides = resolved.overrides
    hashes = resolved.hashes
    digests = resolved.digests
    held = resolved.held
    records = resolved.records
    host_hooks = resolved.host_hooks
    unbuildable = resolved.unbuildable
    runtime_held = resolved.runtime_held
    scoped = resolved.scoped
    environments = resolved.environments
    scoped_hashes = resolved.scoped_hashes
    project_build = resolved.project_build
    runtime = graphs.runtime_set(graph)
    build = graphs.build_set(graph)
    # pip-compile's --build-deps-for: a project input's own build requirements (pins of
    # its locked build environment) join the lockfile, annotated as pip-compile does.
    own_build = _project_build_labels(graph, project_build or {}, target)
    if own_build:
        extra = set(own_build) | graphs.runtime_closure(graph, own_build)
        runtime = (set() if options.only_build_deps else runtime) | extra
    out_dir = options.output_file.parent
    direct_lines = {
        item.name: _direct_line(item)
        for item in spec.requirements
        if item.url is not None and not item.project
    }
    overridden = {o.name for o in overrides}
    # pip-compile writes a top-level requirement's marker on its pin (the last one given).
    markers = {
        item.name: str(item.requirement.marker)
        for item in spec.requirements
        if item.requirement.marker is not None and not item.project
    }
    lock_entries = [
        Entry(
            pin,
            tuple(
                sorted(
                    {
                        *_via(graph, pin.name, runtime, constraints, label_build=False),
                        *own_build.get(pin.name, ()),
                    }
                )
            ),
            hashes=hashes.get(pin.name, ()),
            line=direct_lines.get(pin.name, ""),
            notes=(held[pin.name].note(),) if pin.name in held else (),
            extras=tuple(sorted(graph.nodes[pin.name].get("extras", ()))),
            marker=markers.get(pin.name, ""),
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
        options=emitted(option_lines(index_options, out_dir), left_out(options)),
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
        text_style(options),
        newline_for(options),
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


def left_out(options: CompileOptions) -> frozenset[str]:
    """The option lines pip-compile's --no-emit-* flags leave out of the lockfile."""
    if not options.emit_options:
        return frozenset(
            {"--index-url", "--extra-index-url", "--no-index", "--find-links", "--trusted-host"}
            | {"--only-binary", "--no-binary"}
        )
    names: set[str] = set()
    if not options.emit_index_url:
        names |= {"--no-index", "--index-url", "--extra-index-url"}
    if not options.emit_find_links:
        names.add("--find-links")
    if not options.emit_trusted_host:
        names.add("--trusted-host")
    return frozenset(names)


def text_style(options: CompileOptions) -> TextStyle:
    """pip-compile's output flags as the text rendering takes them."""
    unsafe = frozenset(canonicalize_name(n) for n in options.unsafe_packages)
    return TextStyle(
        strip_extras=options.strip_extras,
        annotate=options.annotate,
        annotation_style=options.annotation_style,
        allow_unsafe=options.allow_unsafe,
        unsafe=unsafe or UNSAFE_PACKAGES,
    )


def newline_for(options: CompileOptions) -> str | None:
    """pip-compile's --newline: lf, crlf, native; or (preserve, the default) None, each
    file keeping its own, except that a new lockfile takes the first input's."""
    chosen = {"lf": "\n", "crlf": "\r\n", "native": os.linesep}.get(options.newline)
    if chosen is not None or existing_newline(options.output_file) is not None:
        return chosen
    for source in options.sources:
        found = existing_newline(source)
        if found is not None:
            return found
    return None


def _project_build_labels(
    graph: graphs.DiGraph,
    project_build: Mapping[str, Sequence[tuple[str, tuple[str, ...]]]],
    target: Target,
) -> dict[str, set[str]]:
    """Each pin a project input's build requires -> its annotations, pip-compile's
    ``name (pyproject.toml::build-system.requires)`` and ``…::build-system.backend::wheel``."""
    found: dict[str, set[str]] = {}
    for project, sides in project_build.items():
        label = _label(graph, project)
        for suffix, texts in sides:
            for text in texts:
                requirement = Requirement(text)
                if not target.evaluate(requirement.marker, [""]):
                    continue
                name = canonicalize_name(requirement.name)
                if name in graph and "pin" in graph.nodes[name]:
                    where = f"{label[:-1]}::{suffix})" if label.endswith(")") else label
                    found.setdefault(name, set()).add(where)
    return found


def _sdist_lines(
    graph: graphs.DiGraph, names: set[str], direct: Mapping[NormalizedName, str]
) -> tuple[str, ...]:
    """The pins built from an index's sdist on the target, for sync to build itself:
    ``name==version filename sha256:hex`` (direct references are left to the installer)."""
    from lockbuild.resolve import graph as graphs  # start-up speed, as in render

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
