"""The build sides of releases installed from wheels (``--build-deps-for all``), fitted
with the builds the lock makes from source under the joint resolution's runtime pins.

Each release that installs from a wheel but also has an sdist becomes one more build
for buildenvs.fit_builds: shared build pins where they fit, a scoped environment where
they cannot, and a named release (with the runtime pin or missing project in the way)
where nothing fits; a runtime pin never moves. Fitting starts over each round, and a
round only follows when build backends asked for more or new build tools are releases
of this kind themselves, so the work is bounded and the same inputs give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lockbuild.build.hookfail import HookFailed
from lockbuild.errors import DistError
from lockbuild.model import PYTHON, Candidate, Req
from lockbuild.pool import DaemonPool
from lockbuild.process import settled
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.buildenvs import Build, Fitted, Unbuildable, fit_builds
from lockbuild.resolve.provider import Provider, Resolution

if TYPE_CHECKING:
    from lockbuild.resolve.source import IndexRepository

__all__ = ["Unbuildable", "extend", "notices", "soft_releases"]

MAX_ROUNDS = 10

# get_requires_for_build_wheel of the releases given, under the lock so far: by name,
# the requirements each added, or its failure.
AskHooks = Callable[[Sequence[Candidate], Fitted], Mapping[str, Sequence[str] | HookFailed]]
# Called with each release and its build edges as soon as they are read (in the worker
# that read them): where get_requires_for_build_wheel may start before the fitting.
OnEdges = Callable[[Candidate, Sequence[Req]], None]


def soft_releases(mapping: Mapping[str, Candidate]) -> list[Candidate]:
    """Pinned releases installed from an index's wheel that also have an sdist, by name."""
    found = [
        c
        for key, c in mapping.items()
        if key != PYTHON
        and not c.extras
        and not c.builds
        and c.url is None
        and any(not f.is_wheel and not f.is_yanked for f in c.files)
    ]
    return sorted(found, key=lambda c: c.name)


def _read_build_edges(
    provider: Provider,
    releases: Sequence[Candidate],
    workers: int,
    on_edges: OnEdges | None = None,
) -> list[list[Req] | HookFailed | Exception]:
    """Each release's build requirements, read in parallel (each needs its sdist's
    build-system table: a download on a cold cache); ``on_edges`` hears each as it comes."""

    def read(release: Candidate) -> list[Req]:
        edges = provider.build_edges(release)
        if on_edges is not None:
            on_edges(release, edges)
        return edges

    pool = DaemonPool(workers)
    try:
        futures = [pool.submit(read, release) for release in releases]
        results: list[list[Req] | HookFailed | Exception] = []
        for future in futures:
            try:
                results.append(settled(future))
            except (HookFailed, DistError, InvalidRequirement) as exc:
                # One unreadable sdist is one release; a fetch that failed past its
                # retries, or a fault of lockbuild's own, still ends the run.
                results.append(exc)
        return results
    finally:
        pool.shutdown()


def extend(
    provider: Provider,
    resolution: Resolution,
    hard: Sequence[Build] = (),
    *,
    ask_hooks: AskHooks | None = None,
    workers: int = 4,
    on_release: Callable[[Candidate], None] = lambda release: None,
    on_edges: OnEdges | None = None,
) -> Fitted:
    """Fit the builds ``hard`` and the build side of every soft release of
    ``resolution`` (the joint resolution) together.

    ``ask_hooks`` (None: no build hooks) runs get_requires_for_build_wheel for the given
    releases under the lock so far; a name maps to the requirements its backend returned
    that the release did not already have, or to the failure. New requirements mean one
    more round. ``on_edges`` hears each release's build edges as soon as they are read."""
    runtime = graphs.runtime_set(graphs.build_graph(resolution))
    requirements: dict[str, tuple[Req, ...]] = {}
    releases: dict[str, Candidate] = {}
    failed: dict[str, Unbuildable] = {}

    def refit() -> Fitted:
        soft = [
            Build(releases[n], requirements[n], soft=True)
            for n in sorted(requirements)
            if n not in failed
        ]
        return fit_builds(provider, resolution, [*hard, *soft])

    to_read = [c for c in soft_releases(resolution.mapping) if c.name in runtime]
    to_ask: list[Candidate] = []
    fitted = refit()
    for _ in range(MAX_ROUNDS):
        if not to_read and not to_ask:
            break
        edges = _read_build_edges(provider, to_read, workers, on_edges)
        for release, found in zip(to_read, edges, strict=True):
            on_release(release)
            releases[release.name] = release
            if isinstance(found, Exception):
                reason = found.reason if isinstance(found, HookFailed) else str(found)
                failed[release.name] = Unbuildable(
                    release.name, str(release.version), f"its sdist cannot be read: {reason}"
                )
            else:
                requirements[release.name] = tuple(found)
                to_ask.append(release)
        fitted = refit()
        unfit = {u.name for u in fitted.unbuildable} | set(failed)
        # Build tools that are such releases themselves: their build sides too.
        to_read = [
            c
            for c in soft_releases(fitted.resolution.mapping)
            if c.name not in releases and c.name not in runtime
        ]
        asked = [c for c in to_ask if c.name not in unfit]
        to_ask = []
        if ask_hooks is None or not asked:
            continue
        answers = ask_hooks(asked, fitted)
        for release in asked:
            answer = answers.get(release.name)
            if isinstance(answer, HookFailed):
                failed[release.name] = Unbuildable(
                    release.name, str(release.version), f"{answer.hook}: {answer.reason}"
                )
            elif answer:
                added = tuple(provider.build_edges_of(release, answer))
                requirements[release.name] = (*requirements[release.name], *added)
                to_ask.append(release)  # asked again in the environment they make
        fitted = refit()
    else:
        for release in to_ask:
            failed[release.name] = Unbuildable(
                release.name,
                str(release.version),
                f"its build backend kept asking for more after {MAX_ROUNDS} rounds",
            )
        fitted = refit()
    named = {u.name: u for u in (*fitted.unbuildable, *failed.values())}
    return Fitted(fitted.resolution, fitted.scoped, tuple(named[n] for n in sorted(named)))


def notices(recorded: Iterable[str]) -> list[str]:
    """One line per release a build file records as not buildable (``recorded``: the
    values ``describe`` wrote; the lines compile prints, so a replayed run prints them)."""
    found: dict[str, None] = {}
    for value in recorded:
        pin, _, reason = value.partition(": ")
        name, _, version = pin.partition("==")
        found[Unbuildable(name, version, reason).line()] = None
    return list(found)


def scoped_notices(recorded: Iterable[str]) -> list[str]:
    """One line per build a build file records with an environment of its own
    (``recorded``: its ``name==version: pins`` values), saying how to install it: pip and
    uv take one version per project."""
    found: dict[str, None] = {}
    for value in recorded:
        pin, _, env = value.partition(": ")
        found[
            f"{pin} is built in an environment of its own ({env}): pip and uv take one "
            "version per project, so install with lockbuild sync, or lockbuild "
            "wheelhouse and then pip or uv with --find-links"
        ] = None
    return list(found)


def describe(names: Iterable[Unbuildable]) -> tuple[str, ...]:
    """What the build file's header records: ``name==version: reason``, one per release."""
    return tuple(f"{u.name}=={u.version}: {u.reason}" for u in names)


def hook_asker(repository: IndexRepository, workers: int) -> AskHooks:
    """get_requires_for_build_wheel of soft releases, each in an environment of its
    locked static build requirements (in parallel): what each adds, or its failure."""

    def ask(releases: Sequence[Candidate], fitted: Fitted) -> dict[str, Sequence[str] | HookFailed]:
        graph = graphs.build_graph(fitted.resolution)
        build_pins = [f"{p.name}=={p.version}" for p in graphs.pins(graph, graphs.build_set(graph))]
        jobs = []
        for release in releases:
            static = repository.build_system(release).requires
            jobs.append((release, fitted.hook_environment(graph, release.name, static)))

        def one(job: tuple[Candidate, list[str]]) -> tuple[str, ...] | HookFailed:
            try:
                constraints = fitted.hook_constraints(job[0].name, build_pins)
                return repository.dynamic_build_requires(job[0], job[1], constraints)
            except HookFailed as exc:
                return exc

        pool = DaemonPool(max(1, min(workers, 4, len(jobs))))
        try:
            futures = [pool.submit(one, job) for job in jobs]
            results = [settled(f) for f in futures]
        finally:
            pool.shutdown()
        answers: dict[str, Sequence[str] | HookFailed] = {}
        for release, found in zip(releases, results, strict=True):
            if isinstance(found, HookFailed):
                answers[release.name] = found
            else:
                answers[release.name] = repository.record_hook_answer(release, found)
        return answers

    return ask


def add_soft_build_sides(
    provider: Provider,
    repository: IndexRepository,
    resolution: Resolution,
    hard: Sequence[Build],
    workers: int,
    *,
    hooks: bool,
) -> Fitted:
    """--build-deps-for all on the joint resolution: every build fitted, soft ones too."""
    repository.progress.phase("adding the build sides of releases installed from wheels")
    asker = hook_asker(repository, workers) if hooks else None
    early = early_hooks(repository, resolution) if hooks else None
    return extend(provider, resolution, hard, ask_hooks=asker, workers=workers, on_edges=early)


def held_hook_environment(
    graph: graphs.DiGraph, runtime: set[str], static: Sequence[str], edges: Sequence[Req]
) -> list[str] | None:
    """The pins a release's get_requires_for_build_wheel runs with, when the runtime pins
    alone decide them: every static build requirement (``edges`` named in ``static``)
    names a runtime pin it admits, with no extras, URL or upload cut-off. Fitting holds
    runtime pins, so it can only give the same environment (graphs.hook_environment);
    None when anything else could shape it."""
    names = {canonicalize_name(Requirement(text).name) for text in static}
    roots = []
    for edge in edges:
        if edge.name not in names:
            continue  # a requirement a hook added: not part of the hook's environment
        pin = graph.nodes[edge.name].get("pin") if edge.name in runtime else None
        if (
            pin is None
            or edge.extras
            or edge.url
            or edge.not_after is not None
            or not edge.specifier.contains(pin.version, prereleases=True)
        ):
            return None
        roots.append(edge.name)
    env = set(roots) | graphs.runtime_closure(graph, roots)
    return sorted(f"{p.name}=={p.version}" for p in graphs.pins(graph, env))


def early_hooks(repository: IndexRepository, resolution: Resolution) -> OnEdges:
    """Start get_requires_for_build_wheel of a release as soon as its build edges are
    read, where the runtime pins alone decide its environment: a slow backend (one that
    compiles in that hook) then runs while the rest is read and fitted, not after. The
    answer is used only when the fitting gives the same environment (it is keyed by the
    pins), and a failure here is asked again in the usual way."""
    graph = graphs.build_graph(resolution)
    runtime = graphs.runtime_set(graph)

    def start(release: Candidate, edges: Sequence[Req]) -> None:
        try:
            static = repository.build_system(release).requires
            pins = held_hook_environment(graph, runtime, static, edges)
        except (DistError, InvalidRequirement):
            return  # the release is named where its edges are read
        if pins is not None:
            repository.start_build_requires(release, pins)

    return start
