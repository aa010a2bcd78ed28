"""The hook rounds: resolve, ask each sdist's backend for the build requirements it adds
(get_requires_for_build_wheel), and resolve again until none are new; what the backends
answered, for -v and for a target not at hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lockbuild.build.hookfail import HookFailed, RuledOutWhilePinned
from lockbuild.errors import InputError, ResolutionError, UsageError
from lockbuild.model import PYTHON, Candidate, Kind, Req
from lockbuild.process import settled
from lockbuild.resolve import buildenvs
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.provider import Provider, Resolution, resolve
from lockbuild.resolve.source import IndexRepository
from lockbuild.spec import CompileOptions
from lockbuild.target import Target

Log = Callable[[str], None]
MAX_HOOK_ROUNDS = 10
MAX_JOINT_ROUNDS = 10


@dataclass(frozen=True)
class Locked:
    """The joint resolution and the build environments fitted under it."""

    base: Resolution  # the joint resolution (build-only projects bound by name only)
    fitted: buildenvs.Fitted  # runtime and shared build pins, scoped builds
    graph: graphs.DiGraph  # of fitted.resolution
    builds: tuple[buildenvs.Build, ...]  # the releases built from source, fitted

    @property
    def resolution(self) -> Resolution:
        return self.fitted.resolution


def hard_builds(provider: Provider, base: Resolution) -> list[buildenvs.Build]:
    """The releases the lock builds from source, with their build requirements."""
    found = []
    for key, candidate in sorted(base.mapping.items()):
        if key == PYTHON or candidate.extras or not candidate.builds:
            continue
        found.append(buildenvs.Build(candidate, tuple(provider.build_edges(candidate))))
    return found


MAX_FIT_ROUNDS = 10


def fit_lock(
    provider: Provider, base: Resolution
) -> tuple[buildenvs.Fitted, list[buildenvs.Build]]:
    """Every build fitted under ``base``'s runtime pins, and the builds that were: a
    build tool the shared fitting chose at a version built from source is a build too
    (its own build environment fitted in the next round), one the joint resolution had
    chosen and the fitting did not is none."""
    builds = hard_builds(provider, base)
    fitted = buildenvs.fit_builds(provider, base, builds)
    for _ in range(MAX_FIT_ROUNDS):
        wanted = {
            c
            for key, c in fitted.resolution.mapping.items()
            if key != PYTHON and not c.extras and c.builds
        }
        have = {b.candidate for b in builds}
        if wanted == have:
            break
        kept = [b for b in builds if b.candidate in wanted]
        new = sorted(wanted - have, key=lambda c: c.name)
        builds = kept + [buildenvs.Build(c, tuple(provider.build_edges(c))) for c in new]
        builds.sort(key=lambda b: b.candidate.name)
        fitted = buildenvs.fit_builds(provider, base, builds)
    return fitted, builds


def _loose_onto_runtime(provider: Provider, base: Resolution, runtime: set[str]) -> set[str]:
    """Runtime pins an edge reached only loosely (by name) in this joint resolution."""
    joint = provider.joint if provider.joint is not None else set()
    found: set[str] = set()
    for key, entries in base.information.items():
        pin = base.mapping.get(key)
        if pin is None or pin.name not in runtime or pin.name in joint:
            continue
        for req, parent in entries:
            if parent is None:
                continue
            if req.kind == Kind.BUILD or parent.name in provider.build_only:
                found.add(pin.name)
    return found


def resolve_with_hooks(
    options: CompileOptions,
    provider: Provider,
    repository: IndexRepository,
    roots: Sequence[Req],
    log: Log,
) -> Locked:
    """Resolve jointly, fit the build environments; then ask each sdist's backend for the
    build requirements it adds in an environment holding its locked static ones, and
    resolve again until none are new. A release whose backend fails there is ruled out
    and the resolution runs again (such rounds do not count: each one removes a release,
    so they end); so do rounds that make an edge hard because a runtime pin turned out
    to be at stake there (each one grows the set of such projects)."""
    rounds = joint_rounds = 0
    progress = repository.progress
    if provider.joint is None:
        provider.joint = set()
    while rounds < MAX_HOOK_ROUNDS and joint_rounds < MAX_JOINT_ROUNDS:
        progress.phase("resolving")
        try:
            base = resolve(
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
        plain = graphs.build_graph(base)
        runtime = graphs.runtime_set(plain)
        _prefer(provider, plain)
        loose = _loose_onto_runtime(provider, base, runtime)
        if loose:
            # The runtime is at stake on those edges: they bind versions from now on.
            provider.joint |= runtime | loose
            provider.build_only = graphs.build_set(plain) - provider.joint
            joint_rounds += 1
            continue
        provider.build_only = graphs.build_set(plain) - runtime - provider.joint
        fitted, builds = fit_lock(provider, base)
        if fitted.unbuildable:
            stake = {
                req.name
                for build in builds
                if any(u.name == build.candidate.name for u in fitted.unbuildable)
                for req in build.requirements
                if req.name not in provider.joint and req.name != PYTHON
            }
            if not stake:
                raise ResolutionError(
                    "; ".join(u.line() for u in fitted.unbuildable).replace(
                        "not buildable from source under this lock", "cannot be built"
                    )
                )
            # Its build tools reach the runtime where no version fits: resolve them jointly.
            provider.joint |= stake
            joint_rounds += 1
            continue
        graph = graphs.build_graph(fitted.resolution)
        if not options.build_hooks:
            return Locked(base, fitted, graph, tuple(builds))
        progress.phase("asking build backends for their build requirements")
        added, ruled_out = _add_dynamic_requirements(graph, fitted, repository, provider, options)
        if not added and not ruled_out:
            return Locked(base, fitted, graph, tuple(builds))
        if ruled_out:
            log("build backends failed for some releases; resolving again without them")
        else:
            rounds += 1
            log("build backends asked for more build requirements; resolving again")
    if joint_rounds >= MAX_JOINT_ROUNDS:
        raise UsageError(
            "the projects shared by runtime and builds kept changing after "
            f"{MAX_JOINT_ROUNDS} rounds"
        )
    raise UsageError(f"build requirements kept changing after {MAX_HOOK_ROUNDS} rounds")


def _prefer(provider: Provider, graph: graphs.DiGraph) -> None:
    """Keep what was chosen where still valid, so each round only adds."""
    for name in graph.nodes:
        pin = graph.nodes[name].get("pin")
        if pin is not None and name not in provider.preferences:
            provider.preferences[name] = pin.candidate.version


def _add_dynamic_requirements(
    graph: graphs.DiGraph,
    fitted: buildenvs.Fitted,
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
        jobs.append((candidate, fitted.hook_environment(graph, candidate.name, static)))
    workers = max(1, min(options.workers, 4, len(jobs)))

    def ask(job: tuple[Candidate, list[str]]) -> tuple[str, ...] | HookFailed:
        try:
            constraints = fitted.hook_constraints(job[0].name, build_pins)
            return repository.dynamic_build_requires(job[0], job[1], constraints)
        except HookFailed as exc:
            if job[0].url:
                raise  # a direct reference has no other release to fall back to
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = [settled(f) for f in [pool.submit(ask, job) for job in jobs]]
    added = ruled_out = False
    for (candidate, _pins), found in zip(jobs, results, strict=True):
        if isinstance(found, HookFailed):
            ruled_out |= provider.rule_out(candidate.name, candidate.version, found)
            continue
        added |= bool(repository.record_hook_answer(candidate, found))
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
        answer = repository.hook_answer(candidate)
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
        dynamic = repository.hook_answer(candidate)
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


def project_build_requirements(
    graph: graphs.DiGraph,
    repository: IndexRepository,
    targets: Sequence[str],
) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """pip-compile's --build-deps-for: for each project input (a local project that is
    built), its build requirements by source: ``build-system.requires`` (static), then
    ``build-system.backend::<target>`` (what get_requires_for_build_<target> returned,
    run in the project's locked build environment). Each must be met by a pin of the
    lock: the wheel hook's answers already are (the hook rounds resolved them); an sdist
    or editable hook asking for more is an error, not a silent omission."""
    build_pins = [f"{p.name}=={p.version}" for p in graphs.pins(graph, graphs.build_set(graph))]
    found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for candidate in graphs.build_candidates(graph):
        if not graph.nodes[candidate.name].get("input"):
            continue
        static = tuple(repository.build_system(candidate).requires)
        sides = [("build-system.requires", static)]
        for target in sorted(targets, key=("editable", "sdist", "wheel").index):
            if target == "wheel":
                answer = repository.hook_answer(candidate) or ()
            else:
                env = graphs.hook_environment(graph, candidate.name, static)
                answer = repository.dynamic_build_requires(candidate, env, build_pins, target)
                _check_pinned(graph, candidate.name, target, answer)
            sides.append((f"build-system.backend::{target}", tuple(answer)))
        found[candidate.name] = sides
    return found


def _check_pinned(graph: graphs.DiGraph, project: str, target: str, answer: Sequence[str]) -> None:
    for text in answer:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        pin = graph.nodes[name].get("pin") if name in graph else None
        if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
            raise InputError(
                f"{project}: get_requires_for_build_{target} asks for {text}, which the lock "
                "does not pin (lockbuild resolves what the wheel hook asks for; give it as an "
                "input to lock it)"
            )
