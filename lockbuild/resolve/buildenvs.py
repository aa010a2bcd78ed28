"""Build environments after the joint resolution: shared where it fits, scoped where it
cannot be.

The joint resolution (provider.py) pins every project with a runtime pin once, for the
runtime set and every build environment, and binds build-only projects (no runtime pin
names them) by name only. Here each build's requirements are resolved on their own with
every runtime pin held. A build-only project takes one shared version, the one most
builds admit (the newest among equals); builds are fitted most constrained first, and a
build that cannot take the shared versions gets a scoped environment: its own resolution
with only the runtime pins held, preferring versions already chosen (few distinct
versions). What cannot be fitted even then stands against a runtime pin or a project
missing from the index: the release is named with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib import ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep

from lockbuild.build.hookfail import RuledOutWhilePinned
from lockbuild.model import PYTHON, Candidate, Kind, Req
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.files import choose_file
from lockbuild.resolve.history import CompactResolver
from lockbuild.resolve.provider import Provider, Resolution
from lockbuild.resolve.reporter import ProgressReporter

# A fit resolves only what one build adds: this is generous.
MAX_FIT_ROUNDS = 5000
# Attempts at one fit when a release turns out unusable while pinned (each removes one).
MAX_RETRIES = 5

Entry = tuple[Req, Candidate | None]


@dataclass(frozen=True)
class Unbuildable:
    """A release whose build requirements cannot be met under the lock's runtime pins."""

    name: str
    version: str
    reason: str

    def line(self) -> str:
        what = "not buildable from source under this lock"
        return f"{self.name}=={self.version}: {what}: {self.reason}"


@dataclass(frozen=True)
class Build:
    """One release whose build environment is locked, with its build requirements."""

    candidate: Candidate
    requirements: tuple[Req, ...]
    # Installed from a wheel (--build-deps-for all): failing to fit names it, no more.
    soft: bool = False


@dataclass(frozen=True)
class Scoped:
    """A build that cannot take the shared build pins: its whole environment."""

    name: str
    version: str
    pins: tuple[tuple[str, str], ...]  # (name, version), sorted by name
    # Its resolution, with the build requirements as edges of the release itself.
    resolution: Resolution = field(compare=False, repr=False)

    def line(self) -> str:
        """``name==version: tool==1.0, other==2.0`` (the header line's value)."""
        env = ", ".join(f"{n}=={v}" for n, v in self.pins)
        return f"{self.name}=={self.version}: {env or '(empty)'}"

    def environment(self) -> list[str]:
        return [f"{n}=={v}" for n, v in self.pins]


@dataclass(frozen=True)
class Fitted:
    """The lock: runtime pins and shared build pins (with their edges), the scoped
    builds, and the releases that cannot be built."""

    resolution: Resolution
    scoped: tuple[Scoped, ...]
    unbuildable: tuple[Unbuildable, ...]

    def scoped_for(self, name: str) -> Scoped | None:
        return next((s for s in self.scoped if s.name == name), None)

    def hook_environment(
        self, graph: graphs.DiGraph, name: str, static: Sequence[str]
    ) -> list[str]:
        """The pins ``name``'s get_requires_for_build_wheel runs with: from its scoped
        environment where it has one, else from the lock's ``graph``."""
        scoped = self.scoped_for(name)
        if scoped is not None:
            graph = graphs.build_graph(scoped.resolution)
        return graphs.hook_environment(graph, name, static)

    def hook_constraints(self, name: str, shared: list[str]) -> list[str]:
        """What installing ``name``'s hook environment is constrained by: its own
        environment's pins where it has one, else the shared build pins."""
        scoped = self.scoped_for(name)
        return scoped.environment() if scoped is not None else shared

    def environments(self, graph: graphs.DiGraph) -> dict[str, list[str]]:
        """``name version`` of every build -> the pins of its build environment."""
        builds = graphs.build_environments(graph)
        for scoped in self.scoped:
            builds[f"{scoped.name} {scoped.version}"] = scoped.environment()
        return builds


def reason(
    provider: Provider, causes: Sequence[Any], fixed: Mapping[str, Version], release: Candidate
) -> str:
    """One line: which build requirement met which runtime pin (or what else left no
    release)."""
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
        locked = f"{req.name}=={pinned} (locked)"
        overrides = [
            o.text
            for o in provider.build_overrides.get(req.name, [])
            if not o.specifier.contains(pinned, prereleases=True)
        ]
        if not req.specifier.contains(pinned, prereleases=True):
            parts.append(f"{req.text}{who} conflicts with {locked}")
        elif overrides and req.kind == Kind.BUILD:
            parts.append(f"the build override {overrides[0]} conflicts with {locked}")
        else:
            uploaded = next(
                (r.uploaded for r in provider.repository.releases(req.name) if r.version == pinned),
                None,
            )
            if req.not_after is not None and uploaded is not None and uploaded > req.not_after:
                parts.append(f"{locked} was uploaded after the sdist (--build-deps-as-of-release)")
            else:
                parts.append(f"{req.text}{who}")
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1 and " (locked)" not in unique[0] and "not on the index" not in unique[0]:
        return f"no release satisfies {unique[0]}"
    return "; ".join(unique) if unique else "its build requirements cannot be resolved"


def fit(
    provider: Provider,
    fixed: Mapping[str, Version],
    release: Candidate,
    requirements: Sequence[Req],
    preferences: Mapping[str, Version] | None = None,
) -> Resolution | Unbuildable:
    """Resolve ``release``'s build requirements with every project in ``fixed`` held at
    its version: the pins that resolution needs."""
    name, version = release.name, str(release.version)
    if not requirements:
        return Resolution({}, {})
    for _ in range(MAX_RETRIES):
        sub = provider.with_pins(fixed, preferences)
        resolver: Resolver[Req, Candidate, str] = CompactResolver(sub, ProgressReporter(True))
        try:
            result = resolver.resolve(requirements, max_rounds=MAX_FIT_ROUNDS)
        except ResolutionImpossible as exc:
            return Unbuildable(name, version, reason(provider, list(exc.causes), fixed, release))
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


def _admits(reqs: Sequence[Req], version: Version, uploaded: Any) -> bool:
    for req in reqs:
        if not req.specifier.contains(version, prereleases=True):
            return False
        if req.not_after is not None and uploaded is not None and uploaded > req.not_after:
            return False
    return True


class _Choice:
    """Per build-only project required directly by builds: the versions each build admits,
    and the shared one (most builds served, the newest among equals)."""

    def __init__(self, provider: Provider, builds: Sequence[Build], runtime: set[str]) -> None:
        self.provider = provider
        self.admitted: dict[tuple[str, str], set[Version]] = {}  # (build, project) -> versions
        self.shared: dict[str, Version] = {}
        wanted: dict[str, list[tuple[str, list[Req]]]] = {}
        for build in builds:
            by_name: dict[str, list[Req]] = {}
            for req in build.requirements:
                if req.name != PYTHON and req.name not in runtime and not req.url:
                    by_name.setdefault(req.name, []).append(req)
            for name, reqs in by_name.items():
                wanted.setdefault(name, []).append((build.candidate.name, reqs))
        for name in sorted(wanted):
            counts: list[tuple[int, Version]] = []
            for release in provider.repository.releases(NormalizedName(name)):
                if self._unusable(name, release):
                    continue
                served = 0
                for build_name, reqs in wanted[name]:
                    if _admits(reqs, release.version, release.uploaded):
                        self.admitted.setdefault((build_name, name), set()).add(release.version)
                        served += 1
                if served:
                    counts.append((served, release.version))
            if counts:
                # Newest first already: max keeps the first of equals.
                self.shared[name] = max(counts, key=lambda item: item[0])[1]
        self.wanted = wanted

    def _unusable(self, name: str, release: Any) -> bool:
        provider = self.provider
        # Constraints and build overrides bind every build's choice alike.
        binding = [*provider.constraints.get(name, []), *provider.build_overrides.get(name, [])]
        for req in binding:
            if not req.specifier.contains(release.version, prereleases=True):
                return True
        if (NormalizedName(name), release.version) in provider.ruled_out:
            return True
        return (
            choose_file(
                release.files, NormalizedName(name), provider.target, provider.options, False
            )
            is None
        )

    def constrained(self, build: Build) -> tuple[int, str]:
        """How few versions the build admits of the tool it is most particular about."""
        counts = [len(v) for (b, _), v in self.admitted.items() if b == build.candidate.name]
        return (min(counts) if counts else 1 << 30, build.candidate.name)

    def takes_shared(self, build: Build) -> bool:
        for (b, name), versions in self.admitted.items():
            if b == build.candidate.name and self.shared.get(name) not in versions:
                return False
        return all((build.candidate.name, n) in self.admitted for n in self.wanted_by(build))

    def wanted_by(self, build: Build) -> list[str]:
        return [
            n
            for n, items in self.wanted.items()
            if any(b == build.candidate.name for b, _ in items)
        ]


def _pins_of(part: Resolution) -> dict[str, Version]:
    """The versions a fit pinned (direct references hold themselves)."""
    return {
        c.name: c.version
        for key, c in part.mapping.items()
        if key != PYTHON and not c.extras and c.url is None
    }


def _entries(part: Resolution, release: Candidate) -> list[tuple[str, Entry]]:
    """A fit's edges with its roots made edges of the release (current criteria only)."""
    found: list[tuple[str, Entry]] = []
    for key, entries in part.information.items():
        if key not in part.mapping:
            continue  # a criterion resolvelib left behind, not connected to the roots
        for req, parent in entries:
            if parent is not None and part.mapping.get(parent.key) != parent:
                continue  # stale
            found.append((key, (req, parent if parent is not None else release)))
    return found


def fit_builds(provider: Provider, base: Resolution, builds: Sequence[Build]) -> Fitted:
    """Every build's environment under ``base``'s runtime pins: the shared build pins and
    the edges to them, the scoped environments, the releases that cannot be built."""
    graph = graphs.build_graph(base)
    # Project inputs (pyproject.toml) are pinned roots too, not reached by an edge.
    runtime = graphs.runtime_set(graph) | {
        n for n in graphs.inputs(graph) if graph.nodes[n].get("pin") is not None
    }
    runtime_keys = {key for key, c in base.mapping.items() if key == PYTHON or c.name in runtime}
    mapping: dict[str, Candidate] = {k: base.mapping[k] for k in runtime_keys}
    information: dict[str, list[Entry]] = {
        key: [(r, p) for r, p in entries if p is None or p.key in runtime_keys]
        for key, entries in base.information.items()
        if key in runtime_keys
    }
    held: dict[str, Version] = {
        c.name: c.version
        for k, c in mapping.items()
        if k != PYTHON and not c.extras and c.url is None
    }
    choice = _Choice(provider, builds, runtime)
    shared: dict[str, Version] = {}
    preferred: dict[str, Version] = {}
    scoped: list[Scoped] = []
    unbuildable: list[Unbuildable] = []

    def add(part: Resolution, release: Candidate, only: Mapping[str, Version] | None) -> None:
        for key, entry in _entries(part, release):
            pin = part.mapping[key]
            if only is not None:
                parent = entry[1]
                outside = [pin] if parent is None or parent is release else [pin, parent]
                if any(c.extras or only.get(c.name) != c.version for c in outside):
                    continue  # a scoped build's own pin: not an edge of the shared lock
            if key not in mapping:
                mapping[key] = pin
            information.setdefault(key, []).append(entry)

    for build in sorted(builds, key=choice.constrained):
        release = build.candidate
        if choice.takes_shared(build):
            fixed = {**choice.shared, **shared, **held}
            part = fit(provider, fixed, release, build.requirements)
            if not isinstance(part, Unbuildable):
                for name, version in _pins_of(part).items():
                    if name not in held:
                        shared.setdefault(name, version)
                add(part, release, None)
                continue
        prefer = {**choice.shared, **preferred, **shared}
        part = fit(provider, held, release, build.requirements, prefer)
        if isinstance(part, Unbuildable):
            unbuildable.append(part)
            continue
        own = _pins_of(part)
        if all(shared.get(n, held.get(n)) == v for n, v in own.items()):
            # Everything it needs is shared already (a tool's dependency moved for it).
            add(part, release, None)
            continue
        for name, version in own.items():
            if name not in held:
                preferred[name] = version
        add(part, release, {**held, **{n: v for n, v in shared.items() if own.get(n) == v}})
        env = Resolution(
            {**part.mapping, release.key: release},
            {k: [e for kk, e in _entries(part, release) if kk == k] for k in part.mapping},
        )
        scoped.append(
            Scoped(
                release.name,
                str(release.version),
                tuple(sorted((n, str(v)) for n, v in own.items())),
                env,
            )
        )
    # Shared pins added by a fit keep a single version: a later fit took them as fixed.
    resolution = Resolution(
        mapping, {k: list(dict.fromkeys(v)) for k, v in information.items() if k in mapping}
    )
    return Fitted(
        resolution,
        tuple(sorted(scoped, key=lambda s: s.name)),
        tuple(sorted(unbuildable, key=lambda u: u.name)),
    )
