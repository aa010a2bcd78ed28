"""Compile: from input files to the lockfile and the build constraints file, through one
joint resolution (repeated while build backends add build requirements)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from . import graph as graphs
from . import heldback, limits, pylock, replay
from .atomic import check_writable
from .cache import Cache
from .credentials import redact_text
from .errors import InputError, UsageError
from .fetcher import Sources
from .hookfail import HookFailed, RuledOutWhilePinned
from .index import IndexClient
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
from .model import Candidate, DistFile, Kind, Req
from .options import CompileOptions, input_digests, option_lines, prepare
from .pair import text_digest
from .progress import Progress
from .resolve import (
    Provider,
    Resolution,
    input_roots,
    resolve,
)
from .source import IndexRepository
from .spec import IndexOptions, InputRequirement, Spec, display_path, read_spec
from .target import Target
from .target import current as current_target

Log = Callable[[str], None]
MAX_HOOK_ROUNDS = 10


def _silent(message: str) -> None:
    return None


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


def _check_outputs(options: CompileOptions, spec: Spec) -> None:
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


def compile_lock(
    options: CompileOptions, target: Target, log: Log, progress: Progress | None = None
) -> CompileResult:
    """Resolve and render both files (without writing them)."""
    if progress is None:
        progress = Progress(sys.stderr, quiet=True)
    limits.hook_timeout()  # a malformed LOCKBUILD_HOOK_TIMEOUT fails before any work
    spec, index_options = prepare(options)
    _check_outputs(options, spec)
    overrides = _build_overrides(options, target)  # reads the build-constraint files
    digests = input_digests(options, spec, index_options, target)
    cache = Cache(options.cache_dir)
    cut_off = options.exclude_newer.at() if options.exclude_newer is not None else None
    if cut_off is not None and options.exclude_newer is not None and options.exclude_newer.relative:
        log(
            f"exclude-newer {options.exclude_newer.text!r}: files uploaded from "
            f"{cut_off.astimezone(UTC).isoformat(timespec='seconds')} on are left out"
        )
    client = IndexClient(
        Sources.from_options(index_options),
        cache,
        offline=options.offline,
        workers=options.workers,
        exclude_newer=cut_off,
        keep_wheel=target.wheel_name_filter(),
        all_files=options.generate_hashes,
        refresh=options.refresh,
    )
    if not target.local:
        log(
            f"note: locking for {target.description}; sdist metadata and build hooks "
            "run on this machine's Python"
        )
    detail = log if options.verbose else _silent
    key = None
    if options.replay and not options.verbose and cache.root is not None:
        key = replay.run_key(options, spec, index_options, target)
        recorded = replay.replay(cache, key, client, cut_off if _relative(options) else None)
        replayed = CompileResult.from_record(recorded) if recorded is not None else None
        if replayed is not None:
            problem = replay.unverified(
                client,
                replayed.lockfile_text,
                replayed.build_text,
                _expected_header(options, index_options, target, digests),
            )
            if problem is not None:
                log(
                    "an identical earlier run's recorded result does not match the index "
                    f"pages served now ({problem}): resolving again"
                )
                replayed = None
        if replayed is not None:
            client.close()
            log(
                f"the {len(client.fetcher.pages_read)} index pages an identical earlier "
                "run read are unchanged: its result is reused (--no-replay resolves again)"
            )
            return replayed
    constraints = [
        Req.from_requirement(
            c.requirement, Kind.CONSTRAINT, url=c.url, origin=str(c.origin), via=c.via
        )
        for c in spec.constraints
        if target.evaluate(c.requirement.marker, [""])
    ]
    constraints += _upgrade_constraints(options)
    hook_target = target if target.python is not None else current_target()
    repository = IndexRepository(
        client,
        target,
        index_options,
        cache,
        log=log,
        detail=detail,
        # Installers refuse extras in constraints: the name and the versions bind.
        env_constraints=[f"{r.name}{r.specifier}" for r in (*overrides, *constraints) if not r.url],
        as_of_release=options.build_deps_as_of_release,
        hook_python=target.python,
        hook_identity=repr(hook_target.identity()),
        progress=progress,
    )
    try:
        if any(item.url for item in spec.requirements) or any(c.url for c in spec.constraints):
            client.fetcher.refuse_replay("direct references or local projects are read")
        spec = _name_direct_references(spec, repository)
        roots = input_roots(spec.requirements, target)
        provider = Provider(
            repository,
            target,
            index_options,
            constraints=constraints,
            build_overrides=overrides,
            preferences=_preferences(options),
            direct={r.name: r for r in roots if r.url},
            build_all=options.build_deps_for == "all",
            notice=lambda message: progress.notice(f"lockbuild: {message}"),
            as_of_release=options.build_deps_as_of_release,
        )
        repository.prefetch(r.name for r in roots)
        graph, resolution = _resolve_with_hooks(options, provider, repository, roots, log)
        locked = {p.name: p.candidate.version for p in graphs.pins(graph, graph.nodes)}
        held = heldback.find(provider, resolution.information, locked, graphs.runtime_set(graph))
        if options.verbose:
            _explain_build_side(graph, repository, log)
        if options.generate_hashes:
            progress.phase("collecting hashes")
        hashes = _hashes(graph, client) if options.generate_hashes else {}
        host_hooks = _host_hooks(graph, repository, target, hook_target)
        records = _file_records(graph, client) if pylock.is_pylock(options.output_file) else {}
        _check_input_hashes(spec, graph, client, options.generate_hashes)
    finally:
        repository.close()
    for item in host_hooks:
        progress.notice(
            f"lockbuild: note: computed on this host, not on {target.description}: {item}"
        )
    result = _render(
        options,
        spec,
        graph,
        index_options,
        target,
        constraints,
        overrides,
        hashes,
        digests,
        held,
        records,
        host_hooks,
    )
    if key is not None:
        if any(pin.candidate.url for pin in graphs.pins(graph, graph.nodes)):
            client.fetcher.refuse_replay("a direct reference was pinned")
        window = None
        if _relative(options) and cut_off is not None:
            window = (cut_off, client.first_excluded)
        replay.record(cache, key, client, result.as_record(), window)
    return result


def _relative(options: CompileOptions) -> bool:
    return options.exclude_newer is not None and options.exclude_newer.relative


def _expected_header(
    options: CompileOptions,
    index_options: IndexOptions,
    target: Target,
    digests: tuple[tuple[str, str], ...],
) -> replay.Expected:
    """What this run writes into both headers (for checking a recorded result)."""
    return replay.Expected(
        command=options.command,
        target=target.description,
        inputs=tuple(f"{what} {digest}" for what, digest in digests),
        options=tuple(
            redact_text(o) for o in option_lines(index_options, options.output_file.parent)
        ),
    )


def _resolve_with_hooks(
    options: CompileOptions,
    provider: Provider,
    repository: IndexRepository,
    roots: Sequence[Req],
    log: Log,
) -> tuple[graphs.DiGraph, Resolution]:
    """Resolve; then ask each sdist's backend for the build requirements it adds in an
    environment holding its locked static ones, and resolve again until none are new.
    A release whose backend fails there is ruled out and the resolution runs again
    (such rounds do not count: each one removes a release, so they end)."""
    rounds = 0
    progress = repository.progress
    while rounds < MAX_HOOK_ROUNDS:
        progress.phase("resolving")
        try:
            resolution = resolve(
                provider,
                roots,
                quiet=options.quiet,
                on_pin=progress.pinned,
                on_reject=progress.rejected,
            )
        except RuledOutWhilePinned:
            # The notice is out; each such round removes a release, so they end.
            log("a pinned release turned out unusable; resolving again without it")
            continue
        graph = graphs.build_graph(resolution)
        if not options.build_hooks:
            return graph, resolution
        progress.phase("asking build backends for their build requirements")
        added, ruled_out = _add_dynamic_requirements(graph, repository, provider, options)
        if not added and not ruled_out:
            return graph, resolution
        # Keep what was chosen where still valid, so each round only adds.
        for name in graph.nodes:
            pin = graph.nodes[name].get("pin")
            if pin is not None and name not in provider.preferences:
                provider.preferences[name] = pin.candidate.version
        if ruled_out:
            log("build backends failed for some releases; resolving again without them")
        else:
            rounds += 1
            log("build backends asked for more build requirements; resolving again")
    raise UsageError(f"build requirements kept changing after {MAX_HOOK_ROUNDS} rounds")


def _build_candidates(graph: graphs.DiGraph) -> list[Candidate]:
    """Candidates whose build requirements are locked (they have build edges or build)."""
    found = []
    for name, data in graph.nodes(data=True):
        pin = data.get("pin")
        if pin is None:
            continue
        has_build_edges = any(Kind.BUILD in kinds for _, _, kinds in graph.out_edges(name, "kinds"))
        if pin.builds or has_build_edges:
            found.append(pin.candidate)
    return sorted(found, key=lambda c: c.name)


def _add_dynamic_requirements(
    graph: graphs.DiGraph,
    repository: IndexRepository,
    provider: Provider,
    options: CompileOptions,
) -> tuple[bool, bool]:
    """Run get_requires_for_build_wheel for every build (in parallel). (True when any
    returned a requirement the resolution has not seen for that build yet, True when
    any release was ruled out because its backend failed.)"""
    build_pins = [f"{p.name}=={p.version}" for p in graphs.pins(graph, graphs.build_set(graph))]
    jobs: list[tuple[Candidate, list[str]]] = []
    for candidate in _build_candidates(graph):
        static = {
            canonicalize_name(Requirement(r).name)
            for r in repository.build_system(candidate).requires
        }
        roots = [n for n in graph.successors(candidate.name) if n in static]
        env = set(roots) | graphs.runtime_closure(graph, roots)
        pins = sorted(f"{p.name}=={p.version}" for p in graphs.pins(graph, env))
        jobs.append((candidate, pins))
    workers = max(1, min(options.workers, 4, len(jobs)))

    def ask(job: tuple[Candidate, list[str]]) -> tuple[str, ...] | HookFailed:
        try:
            return repository.dynamic_build_requires(job[0], job[1], build_pins)
        except HookFailed as exc:
            if job[0].url:
                raise  # a direct reference has no other release to fall back to
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(ask, jobs))
    added = ruled_out = False
    for (candidate, _pins), found in zip(jobs, results, strict=True):
        if isinstance(found, HookFailed):
            ruled_out |= provider.rule_out(candidate.name, candidate.version, found)
            continue
        key = (candidate.name, str(candidate.version))
        known = set(repository.build_requires(candidate))
        new = tuple(r for r in found if r not in known)
        if new:
            repository.dynamic[key] = (*repository.dynamic.get(key, ()), *new)
            added = True
        repository.hook_results[key] = tuple(found)
    return added, ruled_out


def _host_hooks(
    graph: graphs.DiGraph, repository: IndexRepository, target: Target, host: Target
) -> tuple[str, ...]:
    """For a target described but not at hand (no --python), each dynamic build
    requirement a backend computed on this machine: what the user should check."""
    if target.local or target.python is not None:
        return ()
    found = []
    for candidate in _build_candidates(graph):
        answer = repository.hook_results.get((candidate.name, str(candidate.version)))
        if answer:
            found.append(
                f"{candidate.name} {candidate.version} get_requires_for_build_wheel -> "
                f"{', '.join(answer)} (ran on {host.description})"
            )
    return tuple(found)


def _explain_build_side(graph: graphs.DiGraph, repository: IndexRepository, log: Log) -> None:
    """For every build: its backend, static and dynamic requirements, and their pins."""
    for candidate in _build_candidates(graph):
        system = repository.build_system(candidate)
        key = (candidate.name, str(candidate.version))
        dynamic = repository.hook_results.get(key)
        log(f"{candidate.name} {candidate.version}: build backend {system.backend}")
        log(f"  static build requirements: {', '.join(system.requires) or 'none'}")
        shown = ", ".join(dynamic) if dynamic else ("none" if dynamic is not None else "not asked")
        log(f"  dynamic (get_requires_for_build_wheel): {shown}")
        for child in sorted(graph.successors(candidate.name)):
            data = graph.edges[candidate.name, child]
            if Kind.BUILD in data["kinds"]:
                pin = graph.nodes[child]["pin"]
                why = "; ".join(sorted(set(data["requirements"])))
                log(f"    {child}=={pin.version}  <- {why}")


def _hashes(graph: graphs.DiGraph, client: IndexClient) -> dict[str, tuple[str, ...]]:
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


def _check_input_hashes(
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


def _upgrade_constraints(options: CompileOptions) -> list[Req]:
    """``-P name==2.0`` (as pip-compile accepts it): that package moves to that version."""
    result = []
    for text in options.upgrade_packages:
        try:
            requirement = Requirement(text)
        except ValueError:
            raise UsageError(f"--upgrade-package {text!r}: not a requirement") from None
        if requirement.specifier:
            result.append(
                Req.from_requirement(requirement, Kind.CONSTRAINT, origin="--upgrade-package")
            )
    return result


def _build_overrides(options: CompileOptions, target: Target) -> list[Req]:
    """Requirements that bind build edges only (--build-constraint, [tool.lockbuild])."""
    overrides: list[Req] = []
    for path in options.build_constraint_files:
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file"
            raise InputError(f"--build-constraint {display_path(path)}: {what}")
    if options.build_constraint_files:
        spec = read_spec(options.build_constraint_files)
        for item in spec.requirements:
            if target.evaluate(item.requirement.marker, [""]):
                overrides.append(
                    Req.from_requirement(
                        item.requirement,
                        Kind.OVERRIDE,
                        origin=str(item.origin),
                        via="build override",
                    )
                )
    where = display_path(options.config_file) if options.config_file else "pyproject.toml"
    for number, text in enumerate(options.build_constraints, start=1):
        try:
            requirement = Requirement(text)
        except ValueError:
            raise InputError(
                f"{where}: [tool.lockbuild] build-constraints item {number}: "
                f"invalid requirement {text!r}"
            ) from None
        if target.evaluate(requirement.marker, [""]):
            overrides.append(
                Req.from_requirement(
                    requirement,
                    Kind.OVERRIDE,
                    origin=f"{where} [tool.lockbuild]",
                    via="build override",
                )
            )
    return overrides


def _name_direct_references(spec: Spec, repository: IndexRepository) -> Spec:
    """Replace the placeholder names of local paths with the names their metadata gives,
    and expand --all-extras of a project input."""
    named: list[InputRequirement] = []
    for item in spec.requirements:
        if item.url and item.path_text is not None:
            candidate = repository.url_candidate(item.url, item.editable)
            req = Requirement(str(item.requirement))
            req.name = candidate.name
            label = item.label
            if item.project:
                meta = repository.metadata(candidate)
                if item.all_extras:
                    req.extras = set(meta.provides_extra)
                unknown = {canonicalize_name(e) for e in req.extras} - {
                    canonicalize_name(e) for e in meta.provides_extra
                }
                if unknown:
                    raise InputError(
                        f"{item.origin}: {candidate.name} has no extra "
                        f"{', '.join(sorted(unknown))} (it has: "
                        f"{', '.join(meta.provides_extra) or 'none'})"
                    )
                label = f"{candidate.name} ({item.origin.file})"
            item = replace(item, requirement=req, label=label)
        named.append(item)
    return replace(spec, requirements=tuple(named))


def _preferences(options: CompileOptions) -> dict[str, Version]:
    """Existing pins, kept where still valid unless an upgrade was asked for."""
    if options.upgrade or not options.output_file.exists():
        return {}
    try:
        locked = read_lockfile(options.output_file)
        built = (
            read_lockfile(options.build_output_file, what="build file")
            if options.build_output_file.exists()
            else None
        )
    except InputError:
        return {}
    lifted = set()
    for text in options.upgrade_packages:
        try:
            lifted.add(canonicalize_name(Requirement(text).name))
        except ValueError:
            raise UsageError(f"--upgrade-package {text!r}: not a package name") from None
    prefs: dict[str, Version] = {}
    pins = list(locked.pins.values()) + (list(built.pins.values()) if built else [])
    for pin in pins:
        if pin.name in lifted or not pin.version:
            continue
        try:
            prefs[pin.name] = Version(pin.version)
        except ValueError:
            continue
    return prefs


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


def _render(
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
    records: Mapping[str, pylock.FileRecord],
    host_hooks: tuple[str, ...] = (),
) -> CompileResult:
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
    )
    lock_name = display_path(options.output_file)
    build_name = display_path(options.build_output_file)
    if pylock.is_pylock(options.output_file):
        # The pylock pair records digests of the pins (see pylock.py).
        lock_digest = pins_digest(
            (e.pin.name, "" if e.line else e.pin.version) for e in lock_entries
        )
        build_digest = pins_digest((e.pin.name, e.pin.version) for e in build_entries)
        return _render_pylock(
            options,
            graph,
            target,
            header,
            (lock_entries, build_entries),
            records,
            (lock_digest, build_digest),
        )
    lock_newline = newline_of(options.output_file)
    build_newline = newline_of(options.build_output_file)

    def lock_text(build_digest: str) -> str:
        return render_lockfile(header, lock_entries, build_digest, lock_newline)

    def build_text(lock_digest: str) -> str:
        return render_build_file(
            header, build_entries, lock_name, build_name, lock_digest, build_newline
        )

    # Each file records a digest of the other's lines; the digest lines themselves are
    # not covered, so rendering with an empty one first gives the same digest.
    final_lock = lock_text(text_digest(build_text("")))
    final_build = build_text(text_digest(lock_text("")))
    return CompileResult(graph, final_lock, final_build, frozenset(runtime), frozenset(build))


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


def _file_records(graph: graphs.DiGraph, client: IndexClient) -> dict[str, pylock.FileRecord]:
    """The file each pin installs on the target, with its hash (what a pylock file lists)."""
    records: dict[str, pylock.FileRecord] = {}
    for pin in graphs.pins(graph, graph.nodes):
        dist = pin.candidate.dist
        if dist is None:
            continue
        records[pin.name] = pylock.FileRecord(
            filename=dist.filename,
            url=dist.url,
            sha256=client.file_hash(dist),
            size=dist.size,
            upload_time=dist.upload_time,
            is_wheel=dist.is_wheel,
        )
    return records


def _build_environments(graph: graphs.DiGraph) -> dict[str, list[str]]:
    """``name version`` of every sdist built -> the pins of its build environment."""
    builds = {}
    for candidate in _build_candidates(graph):
        roots = [
            child
            for _, child, kinds in graph.out_edges(candidate.name, "kinds")
            if Kind.BUILD in kinds
        ]
        env = set(roots) | graphs.runtime_closure(graph, roots)
        builds[f"{candidate.name} {candidate.version}"] = [
            f"{p.name}=={p.version}" for p in graphs.pins(graph, env)
        ]
    return builds


def _render_pylock(
    options: CompileOptions,
    graph: graphs.DiGraph,
    target: Target,
    header: Header,
    entries: tuple[Sequence[Entry], Sequence[Entry]],
    records: Mapping[str, pylock.FileRecord],
    digests: tuple[str, str],
) -> CompileResult:
    """The pylock pair, and the text build file pip and uv take (see pylock.py)."""
    lock_entries, build_entries = entries
    lock_digest, build_digest = digests
    text_build = pylock.text_build_file_for(options.output_file)
    names = (
        display_path(options.output_file),
        display_path(options.build_output_file),
        display_path(text_build),
    )
    out_dir = options.output_file.parent
    lock_text = pylock.render_lock(
        header, target, lock_entries, records, build_digest, names, out_dir
    )
    build_text = pylock.render_build(
        header,
        target,
        build_entries,
        records,
        lock_digest,
        _build_environments(graph),
        names,
        out_dir,
    )
    text = render_build_file(
        header, build_entries, names[0], names[2], lock_digest, newline_of(text_build)
    )
    # Only pip 26.1 and later read pylock.toml, and they take --build-constraint.
    text = text.replace("    (pip 25.3 and later)", "    (pip 26.1 and later)")
    text = "".join(line for line in text.splitlines(keepends=True) if "PIP_CONSTRAINT=" not in line)
    return CompileResult(
        graph,
        lock_text,
        build_text,
        frozenset(graphs.runtime_set(graph)),
        frozenset(graphs.build_set(graph)),
        ((str(text_build), text),),
    )


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
