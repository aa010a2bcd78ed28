"""The build sides of releases installed from wheels (``--build-deps-for all``): added to
a finished lock where they fit its one-version-per-project set, never moving a pin of it.

The lock itself (runtime pins, and the build sides of the sdists it builds) comes from the
joint resolution as with ``--build-deps-for needed``. Only then is each release that
installs from a wheel but also has an sdist looked at, in name order: its build
requirements are resolved with every pin so far held at its version (a small resolution
of what is new: the build tools and what they need). What fits joins the lock, and later
releases see it pinned too; a release whose build requirements do not fit is named, with
the reason, instead of changing the lock. Each release is fitted at most once per round,
and a round only follows when build backends asked for more, so the work is bounded and
the same inputs give the same result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from resolvelib import ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep

from lockbuild.build.hookfail import HookFailed, RuledOutWhilePinned
from lockbuild.errors import DistError
from lockbuild.model import PYTHON, Candidate, Kind, Req
from lockbuild.pool import DaemonPool
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.provider import Provider, Resolution
from lockbuild.resolve.reporter import ProgressReporter

if TYPE_CHECKING:
    from lockbuild.resolve.source import IndexRepository

MAX_ROUNDS = 10
# A fit resolves only what one release's build side adds: this is generous.
MAX_FIT_ROUNDS = 5000
# Attempts at one fit when a release turns out unusable while pinned (each removes one).
MAX_RETRIES = 5

Entry = tuple[Req, Candidate | None]
# get_requires_for_build_wheel of the releases given, against the lock so far: by name,
# the requirements each added, or its failure.
AskHooks = Callable[[Sequence[Candidate], Resolution], Mapping[str, Sequence[str] | HookFailed]]


@dataclass(frozen=True)
class Unbuildable:
    """A release installed from a wheel whose build requirements do not fit the lock."""

    name: str
    version: str
    reason: str

    def line(self) -> str:
        what = "not buildable from source under this lock"
        return f"{self.name}=={self.version}: {what}: {self.reason}"


@dataclass(frozen=True)
class Extended:
    """The lock with the build sides that fit, and the releases whose did not."""

    resolution: Resolution
    unbuildable: tuple[Unbuildable, ...]


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


def _pinned(provider: Provider, fixed: Mapping[str, Candidate]) -> Provider:
    """A provider that admits only the version fixed for every project in ``fixed``."""
    sub = copy.copy(provider)
    sub.constraints = {name: list(reqs) for name, reqs in provider.constraints.items()}
    for name, candidate in fixed.items():
        if candidate.url is not None:
            continue  # a direct reference admits only itself already
        text = f"{name}=={candidate.version}"
        req = Req(
            NormalizedName(name),
            frozenset(),
            SpecifierSet(f"=={candidate.version}"),
            Kind.CONSTRAINT,
            text,
            via="the lock",
        )
        sub.constraints.setdefault(name, []).append(req)
    return sub


def _reason(
    provider: Provider, causes: Sequence[Any], fixed: Mapping[str, Candidate], release: Candidate
) -> str:
    """One line: which build requirement met which pin (or what else left no release)."""
    parts: list[str] = []
    for cause in causes:
        req: Req = cause.requirement
        if req.name == PYTHON:
            parts.append(f"requires Python {req.specifier}")
            continue
        parent = cause.parent
        who = "" if parent is None or parent.name == release.name else f" (from {parent})"
        pinned = fixed.get(req.name)
        if pinned is None:
            if not provider.repository.releases(req.name):
                parts.append(f"{req.text}{who}: {req.name} is not on the index")
            else:
                parts.append(f"{req.text}{who}")
            continue
        locked = f"{req.name}=={pinned.version} (locked)"
        overrides = [
            o.text
            for o in provider.build_overrides.get(req.name, [])
            if not o.specifier.contains(pinned.version, prereleases=True)
        ]
        if not req.specifier.contains(pinned.version, prereleases=True):
            parts.append(f"{req.text}{who} conflicts with {locked}")
        elif overrides and req.kind == Kind.BUILD:
            parts.append(f"the build override {overrides[0]} conflicts with {locked}")
        elif req.not_after is not None and pinned.uploaded and pinned.uploaded > req.not_after:
            parts.append(f"{locked} was uploaded after the sdist (--build-deps-as-of-release)")
        else:
            parts.append(f"{req.text}{who}")
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1 and " (locked)" not in unique[0] and "not on the index" not in unique[0]:
        return f"no release satisfies {unique[0]}"
    return "; ".join(unique) if unique else "its build requirements cannot be resolved"


def fit(
    provider: Provider,
    fixed: Mapping[str, Candidate],
    release: Candidate,
    requirements: Sequence[Req],
) -> Resolution | Unbuildable:
    """Resolve ``release``'s build requirements with every project in ``fixed`` held at
    its version: the pins that resolution needs (new ones and fixed ones it touches)."""
    name, version = release.name, str(release.version)
    if not requirements:
        return Resolution({}, {})
    for _ in range(MAX_RETRIES):
        sub = _pinned(provider, fixed)
        resolver: Resolver[Req, Candidate, str] = Resolver(sub, ProgressReporter(True))
        try:
            result = resolver.resolve(requirements, max_rounds=MAX_FIT_ROUNDS)
        except ResolutionImpossible as exc:
            return Unbuildable(name, version, _reason(provider, list(exc.causes), fixed, release))
        except ResolutionTooDeep:
            return Unbuildable(name, version, f"no fit found in {MAX_FIT_ROUNDS} rounds")
        except RuledOutWhilePinned:
            continue  # the notice is out; try again without that release
        information = {
            key: [(info.requirement, info.parent) for info in criterion.information]
            for key, criterion in result.criteria.items()
        }
        return Resolution(dict(result.mapping), information)
    return Unbuildable(name, version, "releases its build side needs kept being ruled out")


class _Lock:
    """The growing result: pins by key, who requires what, and the entries each soft
    release added (so a release found unbuildable later takes its edges away again)."""

    def __init__(self, resolution: Resolution) -> None:
        self.mapping: dict[str, Candidate] = dict(resolution.mapping)
        self.information: dict[str, list[Entry]] = {
            key: list(entries) for key, entries in resolution.information.items()
        }
        # Each release keeps its own copy of the edges it needs (pins another release
        # added may be taken back with it); the result lists each edge once.
        self.added: dict[str, list[tuple[str, Entry]]] = {}
        self.base = frozenset(resolution.mapping)

    def fixed(self) -> dict[str, Candidate]:
        return {c.name: c for key, c in self.mapping.items() if key != PYTHON and not c.extras}

    def merge(self, release: Candidate, part: Resolution) -> list[Candidate]:
        """Add what a fit found; the soft releases among the new pins."""
        new = {key: c for key, c in part.mapping.items() if key not in self.mapping}
        self.mapping.update(new)
        added = self.added.setdefault(release.name, [])
        for key, entries in part.information.items():
            if key not in part.mapping:
                continue  # a criterion resolvelib left behind, not connected to the roots
            for req, parent in entries:
                if parent is not None and (
                    part.mapping.get(parent.key) != parent or parent.key in self.base
                ):
                    continue  # stale, or a pin of the plain lock (its edges are there)
                # The fit's roots are the release's build requirements.
                entry: Entry = (req, parent if parent is not None else release)
                self.information.setdefault(key, []).append(entry)
                added.append((key, entry))
        return soft_releases(new)

    def take_back(self, release: Candidate) -> None:
        for key, entry in self.added.pop(release.name, []):
            entries = self.information.get(key, [])
            if entry in entries:
                entries.remove(entry)

    def pruned(self) -> Resolution:
        """Without the pins nothing reaches any more (build sides taken back)."""
        children: dict[str, set[str]] = {}
        roots: set[str] = set()
        for key, entries in self.information.items():
            if key not in self.mapping:
                continue
            for _, parent in entries:
                if parent is None:
                    roots.add(key)
                else:
                    children.setdefault(parent.key, set()).add(key)
        reached, stack = set(roots), list(roots)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in reached:
                    reached.add(child)
                    stack.append(child)
        reached &= set(self.mapping)
        reached.add(PYTHON)
        mapping = {k: c for k, c in self.mapping.items() if k in reached}
        information = {
            k: list(dict.fromkeys((r, p) for r, p in entries if p is None or p.key in reached))
            for k, entries in self.information.items()
            if k in reached
        }
        return Resolution(mapping, information)


def _read_build_edges(
    provider: Provider, releases: Sequence[Candidate], workers: int
) -> list[list[Req] | HookFailed | Exception]:
    """Each release's build requirements, read in parallel (each needs its sdist's
    build-system table: a download on a cold cache)."""
    pool = DaemonPool(workers)
    try:
        futures = [pool.submit(provider.build_edges, release) for release in releases]
        results: list[list[Req] | HookFailed | Exception] = []
        for future in futures:
            try:
                results.append(future.result())
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
    *,
    ask_hooks: AskHooks | None = None,
    workers: int = 4,
    on_release: Callable[[Candidate], None] = lambda release: None,
) -> Extended:
    """Add the build side of every soft release of ``resolution`` where it fits.

    ``ask_hooks`` (None: no build hooks) runs get_requires_for_build_wheel for the given
    releases against the resolution so far; a name maps to the requirements its backend
    returned that the release did not already have, or to the failure. New requirements
    mean one more round for that release."""
    lock = _Lock(resolution)
    unbuildable: dict[str, Unbuildable] = {}
    pending = soft_releases(lock.mapping)
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        edges = _read_build_edges(provider, pending, workers)
        fitted: list[Candidate] = []
        later: list[Candidate] = []
        for release, found in zip(pending, edges, strict=True):
            on_release(release)
            lock.take_back(release)  # a second round fits static and dynamic together
            if isinstance(found, Exception):
                reason = found.reason if isinstance(found, HookFailed) else str(found)
                unbuildable[release.name] = Unbuildable(
                    release.name, str(release.version), f"its sdist cannot be read: {reason}"
                )
                continue
            part = fit(provider, lock.fixed(), release, found)
            if isinstance(part, Unbuildable):
                unbuildable[release.name] = part
                continue
            later += lock.merge(release, part)
            fitted.append(release)
        if ask_hooks is not None and fitted:
            answers = ask_hooks(fitted, lock.pruned())
            for release in fitted:
                answer = answers.get(release.name)
                if isinstance(answer, HookFailed):
                    lock.take_back(release)
                    unbuildable[release.name] = Unbuildable(
                        release.name, str(release.version), f"{answer.hook}: {answer.reason}"
                    )
                elif answer:
                    later.append(release)
        pending = sorted({c.name: c for c in later}.values(), key=lambda c: c.name)
    for release in pending:
        lock.take_back(release)
        unbuildable[release.name] = Unbuildable(
            release.name,
            str(release.version),
            f"its build backend kept asking for more after {MAX_ROUNDS} rounds",
        )
    named = tuple(unbuildable[name] for name in sorted(unbuildable))
    return Extended(lock.pruned(), named)


def notices(recorded: Iterable[str]) -> list[str]:
    """One line per release a build file records as not buildable (``recorded``: the
    values ``describe`` wrote; the lines compile prints, so a replayed run prints them)."""
    found: dict[str, None] = {}
    for value in recorded:
        pin, _, reason = value.partition(": ")
        name, _, version = pin.partition("==")
        found[Unbuildable(name, version, reason).line()] = None
    return list(found)


def describe(names: Iterable[Unbuildable]) -> tuple[str, ...]:
    """What the build file's header records: ``name==version: reason``, one per release."""
    return tuple(f"{u.name}=={u.version}: {u.reason}" for u in names)


def hook_asker(repository: IndexRepository, workers: int) -> AskHooks:
    """get_requires_for_build_wheel of soft releases, each in an environment of its
    locked static build requirements (in parallel): what each adds, or its failure."""

    def ask(
        releases: Sequence[Candidate], resolution: Resolution
    ) -> dict[str, Sequence[str] | HookFailed]:
        graph = graphs.build_graph(resolution)
        build_pins = [f"{p.name}=={p.version}" for p in graphs.pins(graph, graphs.build_set(graph))]
        jobs = []
        for release in releases:
            static = repository.build_system(release).requires
            jobs.append((release, graphs.hook_environment(graph, release.name, static)))

        def one(job: tuple[Candidate, list[str]]) -> tuple[str, ...] | HookFailed:
            try:
                return repository.dynamic_build_requires(job[0], job[1], build_pins)
            except HookFailed as exc:
                return exc

        pool = DaemonPool(max(1, min(workers, 4, len(jobs))))
        try:
            futures = [pool.submit(one, job) for job in jobs]
            results = [f.result() for f in futures]
        finally:
            pool.shutdown()
        answers: dict[str, Sequence[str] | HookFailed] = {}
        for release, found in zip(releases, results, strict=True):
            if isinstance(found, HookFailed):
                answers[release.name] = found
                continue
            key = (release.name, str(release.version))
            known = set(repository.build_requires(release))
            new = tuple(r for r in found if r not in known)
            if new:
                repository.dynamic[key] = (*repository.dynamic.get(key, ()), *new)
            repository.hook_results[key] = tuple(found)
            answers[release.name] = new
        return answers

    return ask


def add_soft_build_sides(
    provider: Provider,
    repository: IndexRepository,
    resolution: Resolution,
    workers: int,
    *,
    hooks: bool,
) -> tuple[graphs.DiGraph, tuple[str, ...]]:
    """--build-deps-for all on a finished lock: the graph with the build sides that fit,
    and a header line per release whose does not."""
    repository.progress.phase("adding the build sides of releases installed from wheels")
    asker = hook_asker(repository, workers) if hooks else None
    extended = extend(provider, resolution, ask_hooks=asker, workers=workers)
    return graphs.build_graph(extended.resolution), describe(extended.unbuildable)
