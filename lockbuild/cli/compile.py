"""Compile: from input files to the lockfile and the build constraints file, through one
joint resolution (repeated while build backends add build requirements, see hookrounds)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lockbuild import limits
from lockbuild.cli import replay
from lockbuild.cli.constraints import build_overrides, preferences, upgrade_constraints
from lockbuild.cli.options import input_digests, prepare
from lockbuild.cli.outputs import CompileResult, Resolved, check_outputs, left_out, render
from lockbuild.credentials import redact_text
from lockbuild.errors import InputError, UsageError
from lockbuild.index.cache import Cache
from lockbuild.index.client import IndexClient
from lockbuild.index.fetcher import Sources
from lockbuild.index.pipconfig import pip_default_index
from lockbuild.indexopts import emitted, option_lines
from lockbuild.lock.formats import format_of
from lockbuild.model import Kind, Req
from lockbuild.progress import Progress
from lockbuild.spec import CompileOptions, IndexOptions, InputRequirement, Spec
from lockbuild.target import Target
from lockbuild.target import current as current_target

if TYPE_CHECKING:
    from lockbuild.resolve.source import IndexRepository

Log = Callable[[str], None]


def _silent(message: str) -> None:
    return None


def compile_lock(
    options: CompileOptions, target: Target, log: Log, progress: Progress | None = None
) -> CompileResult:
    """Resolve and render both files (without writing them)."""
    if progress is None:
        progress = Progress(sys.stderr, quiet=True)
    limits.hook_timeout()  # a malformed LOCKBUILD_HOOK_TIMEOUT fails before any work
    if options.build_deps_as_of_release:
        from lockbuild.build import environments  # start-up speed, as below

        environments.check_cutoff_support()  # pip too old for the cutoff: before any work
    spec, index_options = prepare(options)
    if not index_options.no_index:
        # Asked once, here (check never needs it): where no index is given, and the one
        # the lockfile's option lines leave out.
        index_options = replace(index_options, default_index=pip_default_index())
    check_outputs(options, spec)
    if options.project_build_targets and not any(item.project for item in spec.requirements):
        raise UsageError(
            "--build-deps-for editable|sdist|wheel, --all-build-deps and --only-build-deps "
            "need a pyproject.toml, setup.py or setup.cfg input (pip-compile's rule)"
        )
    overrides = build_overrides(options, target)  # reads the build-constraint files
    digests = input_digests(options, spec, target)
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
                client.distrust_listings()
        if replayed is not None:
            client.close()
            log(
                f"the {len(client.fetcher.pages_read)} index pages an identical earlier "
                "run read are unchanged: its result is reused (--no-replay resolves again)"
            )
            return replayed
    # The pages of the inputs start coming while the resolver and the build side are
    # imported (tens of milliseconds, a tenth of a small lock's wall time); the
    # repository's own prefetch below finds them fetched or on their way.
    client.prefetch(
        item.name
        for item in spec.requirements
        if item.url is None and target.evaluate(item.requirement.marker, [""])
    )
    # start-up speed: a replayed run ends above, without the resolver and the build side
    from lockbuild.resolve import buildable, heldback, hookrounds, whynewer
    from lockbuild.resolve import graph as graphs
    from lockbuild.resolve.hashes import (
        check_input_hashes,
        file_hashes,
        file_records,
        scoped_hashes,
    )
    from lockbuild.resolve.provider import Provider, input_roots
    from lockbuild.resolve.source import IndexRepository

    if not options.verbose:
        # Build backends' own deprecation notices (setuptools prints hundreds of lines)
        # are about the sdists, not the lock: shown with -v only. Set where the build
        # side is imported: a replayed run, ended above, runs no backend.
        import warnings  # start-up speed, as above

        from pyproject_hooks import BuildBackendWarning

        warnings.filterwarnings("ignore", category=BuildBackendWarning)

    # A run that resolves although an identical earlier one was recorded (--no-replay,
    # -v): the pages that run read are fetched ahead of the resolver, all at once.
    ahead: list[str] = []
    if key is None and cache.root is not None:
        ahead = replay.recorded_pages(cache, replay.run_key(options, spec, index_options, target))
    constraints = [
        Req.from_requirement(
            c.requirement, Kind.CONSTRAINT, url=c.url, origin=str(c.origin), via=c.via
        )
        for c in spec.constraints
        if target.evaluate(c.requirement.marker, [""])
    ]
    constraints += upgrade_constraints(options)
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
            preferences=preferences(options),
            direct={r.name: r for r in roots if r.url},
            notice=lambda message: progress.notice(f"lockbuild: {message}"),
            as_of_release=options.build_deps_as_of_release,
        )
        repository.prefetch(r.name for r in roots)
        # Ahead of the resolver, all at once: the pages an identical recorded run read,
        # and those of the existing lockfile's pins (an edited input keeps most of them).
        repository.prefetch(client.projects_of(ahead))
        repository.prefetch(provider.preferences)
        joint = hookrounds.resolve_with_hooks(options, provider, repository, roots, log)
        graph, fitted = joint.graph, joint.fitted
        if options.build_deps_for == "all":
            fitted = buildable.add_soft_build_sides(
                provider,
                repository,
                joint.base,
                joint.builds,
                options.workers,
                hooks=options.build_hooks,
            )
            graph = graphs.build_graph(fitted.resolution)
        locked = {p.name: p.candidate.version for p in graphs.pins(graph, graph.nodes)}
        information = fitted.resolution.information
        held = heldback.find(provider, information, locked, graphs.runtime_set(graph))
        runtime_held = whynewer.find(
            provider,
            information,
            locked,
            graphs.runtime_set(graph),
            explained=held,
            command=options.command,
        )
        # A pin only kept from the existing lock is not recorded: its line would change
        # with every upstream release while the pins stay (-v shows them).
        for kept in runtime_held.values():
            if whynewer.only_kept(kept):
                detail(kept.line())
        runtime_held = {n: h for n, h in runtime_held.items() if not whynewer.only_kept(h)}
        unbuildable = buildable.describe(fitted.unbuildable)
        scoped = tuple(s.line() for s in fitted.scoped)
        build_envs = fitted.environments(graph)
        if options.verbose:
            hookrounds.explain_build_side(graph, repository, log)
        if options.generate_hashes:
            progress.phase("collecting hashes")
        hashes = file_hashes(graph, client) if options.generate_hashes else {}
        own_hashes: tuple[str, ...] = ()
        if options.generate_hashes:
            own_hashes = scoped_hashes(graph, (s.pins for s in fitted.scoped), client)
        host_hooks = hookrounds.host_hooks(graph, repository, target, hook_target)
        project_build = (
            hookrounds.project_build_requirements(graph, repository, options.project_build_targets)
            if options.project_build_targets
            else {}
        )
        records = file_records(graph, client) if format_of(options.output_file).lists_files else {}
        check_input_hashes(spec, graph, client, options.generate_hashes)
    finally:
        repository.close()
        for name, count in client.undated().items():
            # pip and uv leave such files out too; a local file is admitted without one.
            progress.notice(
                f"lockbuild: note: {count} file(s) of {name} left out: the index gives no "
                "upload time, which --exclude-newer needs"
            )
    for item in host_hooks:
        progress.notice(
            f"lockbuild: note: computed on this host, not on {target.description}: {item}"
        )
    resolved = Resolved(
        graph,
        constraints,
        overrides,
        hashes,
        digests,
        held,
        records,
        host_hooks,
        unbuildable,
        runtime_held,
        scoped=scoped,
        environments=build_envs,
        scoped_hashes=own_hashes,
        project_build=project_build,
    )
    result = render(options, spec, index_options, target, resolved)
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
            redact_text(o)
            for o in emitted(
                option_lines(index_options, options.output_file.parent), left_out(options)
            )
        ),
    )


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
