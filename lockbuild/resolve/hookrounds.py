"""The hook rounds: resolve, ask each sdist's backend for the build requirements it adds
(get_requires_for_build_wheel), and resolve again until none are new; what the backends
answered, for -v and for a target not at hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from lockbuild.build.hookfail import HookFailed, RuledOutWhilePinned
from lockbuild.errors import UsageError
from lockbuild.model import Candidate, Kind, Req
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.provider import Provider, Resolution, resolve
from lockbuild.resolve.source import IndexRepository
from lockbuild.spec import CompileOptions
from lockbuild.target import Target

Log = Callable[[str], None]
MAX_HOOK_ROUNDS = 10


def resolve_with_hooks(
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
    for candidate in graphs.build_candidates(graph):
        static = repository.build_system(candidate).requires
        jobs.append((candidate, graphs.hook_environment(graph, candidate.name, static)))
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


def host_hooks(
    graph: graphs.DiGraph, repository: IndexRepository, target: Target, host: Target
) -> tuple[str, ...]:
    """For a target described but not at hand (no --python), each dynamic build
    requirement a backend computed on this machine: what the user should check."""
    if target.local or target.python is not None:
        return ()
    found = []
    for candidate in graphs.build_candidates(graph):
        answer = repository.hook_results.get((candidate.name, str(candidate.version)))
        if answer:
            found.append(
                f"{candidate.name} {candidate.version} get_requires_for_build_wheel -> "
                f"{', '.join(answer)} (ran on {host.description})"
            )
    return tuple(found)


def explain_build_side(graph: graphs.DiGraph, repository: IndexRepository, log: Log) -> None:
    """For every build: its backend, static and dynamic requirements, and their pins."""
    for candidate in graphs.build_candidates(graph):
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
