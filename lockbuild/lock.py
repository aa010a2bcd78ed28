"""Compile: from input files to the lockfile and the build constraints file, through one
joint resolution."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from . import graph as graphs
from .cache import Cache, default_cache_dir
from .errors import InputError, UsageError
from .index import IndexClient, Sources, pip_config_options, pip_default_index
from .lockfile import (
    Entry,
    Header,
    newline_of,
    pins_digest,
    read_lockfile,
    render_build_file,
    render_lockfile,
    write_pair,
)
from .resolve import BUILD, RUNTIME, Provider, Req, input_roots, resolve
from .source import IndexRepository
from .spec import IndexOptions, InputRequirement, Spec, display_path, read_spec
from .target import Target

Log = Callable[[str], None]


@dataclass(frozen=True)
class CompileOptions:
    """Everything that ``lockbuild compile`` was asked, after defaults are applied."""

    sources: tuple[Path, ...]
    output_file: Path
    build_output_file: Path
    cli_index: IndexOptions = field(default_factory=IndexOptions)
    cli_index_url_set: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    cache_dir: Path | None = None
    offline: bool = False
    quiet: bool = False
    verbose: bool = False
    workers: int = 8
    command: str = "lockbuild compile"


@dataclass(frozen=True)
class CompileResult:
    graph: nx.DiGraph
    lockfile_text: str
    build_text: str
    runtime: frozenset[str]
    build: frozenset[str]


def default_output(sources: Sequence[Path]) -> Path:
    """``requirements.in`` -> ``requirements.txt`` beside it (pip-compile's rule)."""
    first = sources[0] if sources else Path("requirements.in")
    if first.name == "pyproject.toml" or first.name in ("setup.py", "setup.cfg"):
        return first.with_name("requirements.txt")
    if first.suffix == ".txt":
        raise UsageError(f"{first}: give --output-file; the default would overwrite the input")
    return first.with_suffix(".txt")


def effective_options(
    spec_options: IndexOptions, cli: IndexOptions, cli_index_url: bool
) -> IndexOptions:
    """pip configuration, then the input files' options, then the command line."""
    opts = pip_config_options().merged(spec_options).merged(cli)
    if cli.no_index:
        opts = replace(opts, no_index=True)
    if cli_index_url:
        opts = replace(opts, index_url=cli.index_url)
    return opts


def option_lines(options: IndexOptions, out_dir: Path) -> tuple[str, ...]:
    """Index options a pip-compile user expects at the top of the lockfile."""
    lines: list[str] = []
    if options.no_index:
        lines.append("--no-index")
    elif options.index_url and options.index_url.rstrip("/") != pip_default_index().rstrip("/"):
        lines.append(f"--index-url {options.index_url}")
    if not options.no_index:
        lines += [f"--extra-index-url {u}" for u in options.extra_index_urls]
    for link in options.find_links:
        lines.append(f"--find-links {_relative_location(link, out_dir)}")
    lines += [f"--trusted-host {h}" for h in options.trusted_hosts]
    if options.only_binary:
        lines.append("--only-binary " + ",".join(sorted(options.only_binary)))
    if options.no_binary:
        lines.append("--no-binary " + ",".join(sorted(options.no_binary)))
    return tuple(lines)


def _relative_location(link: str, out_dir: Path) -> str:
    if "://" in link:
        return link
    try:
        return os.path.relpath(link, out_dir.resolve())
    except ValueError:
        return link


def _file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _options_digest(options: IndexOptions, target: Target) -> str:
    text = repr(
        (sorted(options.__dict__.items()), target.environment, [str(t) for t in target.tags[:3]])
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def compile_lock(options: CompileOptions, target: Target, log: Log) -> CompileResult:
    """Resolve and render both files (without writing them)."""
    spec = read_spec(options.sources)
    index_options = effective_options(spec.options, options.cli_index, options.cli_index_url_set)
    cache = Cache(options.cache_dir)
    client = IndexClient(
        Sources.from_options(index_options), cache, offline=options.offline, workers=options.workers
    )
    try:
        repository = IndexRepository(client, target, index_options, cache, log=log)
        spec = _name_direct_references(spec, repository)
        roots = input_roots(spec.requirements, target)
        constraints = [
            Req.from_requirement(
                c.requirement, "constraint", url=c.url, origin=str(c.origin), via=c.via
            )
            for c in spec.constraints
            if target.evaluate(c.requirement.marker, [""])
        ]
        preferences = _preferences(options)
        direct = {r.name: r for r in roots if r.url}
        provider = Provider(
            repository,
            target,
            index_options,
            constraints=constraints,
            preferences=preferences,
            direct=direct,
        )
        repository.prefetch(r.name for r in roots)
        resolution = resolve(provider, roots, quiet=options.quiet)
        graph = graphs.build_graph(resolution)
    finally:
        client.close()
    return _render(options, spec, graph, index_options, target, constraints)


def _name_direct_references(spec: Spec, repository: IndexRepository) -> Spec:
    """Replace the placeholder names of local paths with the names their metadata gives."""
    named: list[InputRequirement] = []
    for item in spec.requirements:
        if item.url and item.path_text is not None:
            candidate = repository.url_candidate(item.url, item.editable)
            req = Requirement(str(item.requirement))
            req.name = candidate.name
            item = replace(item, requirement=req)
        named.append(item)
    return replace(spec, requirements=tuple(named))


def _preferences(options: CompileOptions) -> dict[str, Version]:
    """Existing pins, kept where still valid unless an upgrade was asked for."""
    if options.upgrade or not options.output_file.exists():
        return {}
    try:
        locked = read_lockfile(options.output_file)
    except InputError:
        return {}
    lifted = {canonicalize_name(Requirement(p).name) for p in options.upgrade_packages}
    prefs: dict[str, Version] = {}
    for name, pin in locked.pins.items():
        if name in lifted or not pin.version:
            continue
        try:
            prefs[name] = Version(pin.version)
        except ValueError:
            continue
    return prefs


def _via(
    graph: nx.DiGraph,
    name: str,
    allowed: set[str],
    constraints: Sequence[Req],
    *,
    label_build: bool,
) -> tuple[str, ...]:
    entries: set[str] = set()
    for parent, kinds in graphs.parents(graph, name):
        is_input = graph.nodes[parent].get("input", False)
        if not is_input and parent not in allowed:
            continue
        if RUNTIME in kinds:
            entries.add(parent)
        if BUILD in kinds and label_build:
            entries.add(f"{parent} (build)")
    entries |= {c.via for c in constraints if c.name == name and c.via}
    return tuple(sorted(entries))


def _render(
    options: CompileOptions,
    spec: Spec,
    graph: nx.DiGraph,
    index_options: IndexOptions,
    target: Target,
    constraints: Sequence[Req],
) -> CompileResult:
    runtime = graphs.runtime_set(graph)
    build = graphs.build_set(graph)
    out_dir = options.output_file.parent
    direct_lines = {
        item.name: _direct_line(item) for item in spec.requirements if item.url is not None
    }
    lock_entries = [
        Entry(
            pin,
            _via(graph, pin.name, runtime, constraints, label_build=False),
            line=direct_lines.get(pin.name, ""),
        )
        for pin in graphs.pins(graph, runtime)
    ]
    build_entries = [
        Entry(pin, _via(graph, pin.name, runtime | build, constraints, label_build=True))
        for pin in graphs.pins(graph, build)
        if pin.name not in direct_lines
    ]
    lock_digest = pins_digest((e.pin.name, e.pin.version) for e in lock_entries)
    build_digest = pins_digest((e.pin.name, e.pin.version) for e in build_entries)
    # Input paths are recorded relative to the lockfile, so a check from anywhere finds them.
    inputs = tuple(
        (Path(os.path.relpath(p, out_dir.resolve())).as_posix(), _file_digest(p))
        for p in spec.files_read
    ) + (("options", _options_digest(index_options, target)),)
    header = Header(
        command=options.command,
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        target=target.description,
        inputs=inputs,
        options=option_lines(index_options, out_dir),
    )
    lock_name = display_path(options.output_file)
    build_name = display_path(options.build_output_file)
    lock_text = render_lockfile(header, lock_entries, build_digest, newline_of(options.output_file))
    build_text = render_build_file(
        header,
        build_entries,
        lock_name,
        build_name,
        lock_digest,
        newline_of(options.build_output_file),
    )
    return CompileResult(graph, lock_text, build_text, frozenset(runtime), frozenset(build))


def _direct_line(item: InputRequirement) -> str:
    if item.editable:
        return f"-e {item.url}"
    return f"{item.name} @ {item.url}"


def write_outputs(options: CompileOptions, result: CompileResult) -> None:
    write_pair(
        {options.output_file: result.lockfile_text, options.build_output_file: result.build_text}
    )


def command_line(argv: Sequence[str]) -> str:
    """The command recorded in the header: the arguments that shape the result."""
    skip_flags = {"-q", "--quiet", "-v", "--verbose", "--no-cache", "--offline"}
    skip_values = {"--cache-dir", "--workers"}
    kept: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        key = arg.split("=", 1)[0]
        if key in skip_flags:
            continue
        if key in skip_values:
            if "=" not in arg and args:
                args.pop(0)
            continue
        kept.append(arg)
    from .index import redact_text

    return redact_text(" ".join(["lockbuild", *(shlex.quote(a) for a in kept)]))


def cache_root(cache_dir: Path | None, no_cache: bool) -> Path | None:
    if no_cache:
        return None
    return cache_dir or default_cache_dir()


def canonical_names(names: Sequence[str]) -> list[NormalizedName]:
    return [canonicalize_name(n) for n in names]
