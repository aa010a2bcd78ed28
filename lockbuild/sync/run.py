"""Sync: from a lockfile and its build constraints file to a matching environment.

The pair is checked first (digests, inputs: pair.py), then the target environment is read
back through its own interpreter (interpreter.py), diffed against the lockfile (plan.py),
the sdists the lock builds on its target are built into the wheelhouse (builder.py), and
the environment is changed by pip or uv (installer.py) with the build constraints wired
in: install and upgrade first, uninstall extras only after that succeeded, then read the
environment again to verify it. What an installer's failure says is read by diagnosis.py.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from lockbuild.build.provenance import python_key
from lockbuild.credentials import redact_text
from lockbuild.errors import BuildError, InstallError, UsageError
from lockbuild.index.cache import Cache, default_cache_dir
from lockbuild.index.pipconfig import configured_constraints
from lockbuild.indexopts import IndexOptions, overridden
from lockbuild.lock.model import TARGET, LockedPin
from lockbuild.lock.pair import LockPair
from lockbuild.progress import InstallerProgress
from lockbuild.spec import display_path
from lockbuild.sync.builder import Builder, BuildSettings, SdistBuildError, default_jobs
from lockbuild.sync.buildjob import (
    BuildJob,
    BuildResult,
    build_dependencies,
    plan_jobs,
    scoped_environments,
    sdist_pins,
)
from lockbuild.sync.diagnosis import (
    failed_builds,
    keep_last_log,
    keep_log,
    last_error,
    show_tail,
)
from lockbuild.sync.envlock import env_locked
from lockbuild.sync.installer import (
    PIP_BUILD_CONSTRAINT,
    Installer,
    RunResult,
    constraint_env_value,
    find_installer,
    hash_free_copy,
    installer_cache_dir,
    requirements_text,
    run_installer,
)
from lockbuild.sync.interpreter import (
    Environment,
    check_target,
    probe,
    protected_names,
    target_python,
)
from lockbuild.sync.merge import read_pairs
from lockbuild.sync.plan import (
    DOWNGRADE,
    INSTALL,
    REBUILD,
    REINSTALL,
    REMOVE,
    UPGRADE,
    Plan,
    make_plan,
    same_version,
)
from lockbuild.target import recorded_mismatch

Log = Callable[[str], None]


@dataclass(frozen=True)
class SyncOptions:
    """Everything ``lockbuild sync`` was asked."""

    lockfile: Path
    build_file: Path | None = None
    python: str | None = None
    system: bool = False
    installer: str = "pip"
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    dry_run: bool = False
    check: bool = False
    quiet: bool = False
    verbose: bool = False
    jobs: int = 0  # parallel builds (0: builder.default_jobs())
    ignore_target: bool = False  # sync even when the env is not the lock's target
    # pip-sync's: several lockfiles joined (``lockfile`` is the first), --ask, --force
    # (the later of two conflicting pins wins), --pip-args (pip's, for the install).
    lockfiles: tuple[Path, ...] = ()
    ask: bool = False
    force: bool = False
    pip_args: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()

    def command(self) -> str:
        """The ``lockbuild sync`` command that does what this one checked or planned: the
        same lockfile, interpreter, installer and index flags (a fix printed is the exact
        command to run)."""
        words = ["lockbuild", "sync", *map(str, self.lockfiles or (self.lockfile,))]
        if self.build_file is not None:
            words += ["--build-constraints", str(self.build_file)]
        if self.python is not None:
            words += ["--python", self.python]
        if self.system:
            words.append("--system")
        if self.installer != "pip":
            words += ["--installer", self.installer]
        if self.index_url is not None:
            words += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            words += ["--extra-index-url", url]
        for link in self.find_links:
            words += ["--find-links", link]
        if self.no_index:
            words.append("--no-index")
        if self.ignore_target:
            words.append("--ignore-target")
        return redact_text(shlex.join(words))

    @property
    def index_flags(self) -> IndexOptions:
        """The index flags given on the command line (over what the lockfile recorded)."""
        return IndexOptions(
            index_url=self.index_url,
            extra_index_urls=self.extra_index_urls,
            find_links=self.find_links,
            no_index=self.no_index,
            trusted_hosts=self.trusted_hosts,
        )


@dataclass(frozen=True)
class _Context:
    """One sync run: the pair, the target, the installer and where messages go."""

    pair: LockPair
    env: Environment
    installer: Installer
    options: SyncOptions
    out: Log
    err: Log


def lock_builds(pair: LockPair) -> dict[NormalizedName, BuildJob]:
    """The pins the pair builds from sdists on its target (the ``lockbuild-sdist`` header
    lines), each with the build environment the build file prescribes for it."""
    sdists = sdist_pins(pair.lock, pair.build)
    names = [
        n
        for n, s in sdists.items()
        if n in pair.lock.pins and same_version(s.version, pair.lock.pins[n].version)
    ]
    return build_jobs(pair, names)


def build_jobs(pair: LockPair, names: Iterable[NormalizedName]) -> dict[NormalizedName, BuildJob]:
    sdists = sdist_pins(pair.lock, pair.build)

    def hashes(name: NormalizedName) -> tuple[str, ...]:
        pin = pair.lock.pins.get(name) or pair.build.pins.get(name)
        return pin.hashes if pin is not None else ()

    scoped = scoped_environments(pair.lock, pair.build)

    def environment(name: NormalizedName) -> Sequence[LockedPin]:
        own = scoped.get(name)
        if own is not None and name in sdists and same_version(own[0], sdists[name].version):
            return own[1]  # an environment of its own: its exact pins
        return build_dependencies(pair.build, name)

    return plan_jobs(names, sdists, environment, hashes)


def sync(
    options: SyncOptions, out: Log, err: Log, confirm: Callable[[str], bool] | None = None
) -> int:
    """Make the target environment match the lockfile (or the several lockfiles joined);
    returns the exit code. ``confirm`` answers --ask's question."""
    with tempfile.TemporaryDirectory(prefix="lockbuild-sync-") as scratch:
        lockfiles = options.lockfiles or (options.lockfile,)
        pair = read_pairs(
            lockfiles, options.build_file, Path(scratch), force=options.force, warn=err
        )
        return _sync(pair, options, out, err, confirm)


def _sync(
    pair: LockPair, options: SyncOptions, out: Log, err: Log, confirm: Callable[[str], bool] | None
) -> int:
    python = target_python(options.python, options.system)
    env = probe(python)
    check_target(env, options.system)
    check_lock_target(pair, env, options.ignore_target, err)
    installer = find_installer(options.installer, python)
    protected = protected_names(env, installer.kind)
    builds = lock_builds(pair)
    where = f"{env.prefix} (Python {env.python_version})"
    lock_name = display_path(pair.lock_path)
    if options.dry_run or options.check or options.ask:
        plan = make_plan(pair.lock, env, protected, builds)
        _print_plan(plan, out, prefix="would ")
        if not plan.changes:
            out(f"nothing to do: {where} already matches {lock_name}")
            return 0
        if options.check:
            out(
                f"{where} differs from {lock_name}: {len(plan.changes)} change(s); "
                f"run: {options.command()}"
            )
            return 1
        if options.dry_run:
            out(
                f"dry run: {len(plan.changes)} change(s) to {where} with {installer.label}; "
                "nothing was changed"
            )
            return 0
        # --ask, as pip-sync's: the plan, then a question; no means nothing changes.
        if confirm is None or not confirm("Would you like to proceed with these changes?"):
            out(f"nothing was changed in {where}")
            return 1
    with env_locked(env.prefix, err):
        # Read again under the lock: another sync may have changed it since.
        env = probe(python)
        plan = make_plan(pair.lock, env, protected, builds)
        if not plan.changes:
            if not options.quiet:
                out(
                    f"nothing to do: {where} already matches {lock_name} "
                    f"({len(plan.unchanged)} pins)"
                )
            return 0
        context = _Context(pair, env, installer, options, out, err)
        results = _build(context, plan, builds)
        with tempfile.TemporaryDirectory(prefix="lockbuild-sync-") as scratch:
            _apply(context, plan, Path(scratch), results)
        after = probe(python)
        remaining = make_plan(pair.lock, after, protected, builds)
    if remaining.changes:
        shown = "; ".join(c.describe() for c in remaining.changes[:5])
        more = f" (and {len(remaining.changes) - 5} more)" if len(remaining.changes) > 5 else ""
        raise InstallError(
            f"{env.prefix} still differs from {lock_name} after "
            f"{installer.label} ran: still to {shown}{more}"
        )
    if not options.quiet:
        _print_plan(plan, out, prefix="")
        for result in results.values():
            if result.job.sdist.name in {c.name for c in plan.installs}:
                out(f"  {result.describe()}")
        counts = plan.counts()
        parts = [
            f"{counts[a]} {word}"
            for a, word in (
                (INSTALL, "installed"),
                (UPGRADE, "upgraded"),
                (DOWNGRADE, "downgraded"),
                (REINSTALL, "reinstalled"),
                (REBUILD, "rebuilt"),
                (REMOVE, "removed"),
            )
            if counts[a]
        ]
        out(
            f"synced {where} with {installer.label} (build constraints via "
            f"{installer.route}): {', '.join(parts)}, {len(plan.unchanged)} unchanged; "
            "verified"
        )
    return 0


def check_lock_target(
    pair: LockPair, env: Environment, ignore: bool, err: Log, doing: str = "sync"
) -> None:
    """Refuse an environment that is not the target the lock was compiled for (its
    implementation, Python X.Y, operating system, machine and C library), unless asked to
    go on anyway; ``doing`` is the command's verb for the message (sync, build)."""
    recorded = pair.lock.first(TARGET) or ""
    here = recorded_mismatch(recorded, dict(env.markers), env.libc)
    if here is None:
        return
    what = f"{display_path(pair.lock_path)} was compiled for {recorded}, but {env.python} is {here}"
    if ignore:
        err(f"lockbuild: warning: {what}; going on anyway (--ignore-target)")
        return
    raise UsageError(
        f"{what}; recompile for it ({recompile_for(pair.lock.command, env.python)}) or pass "
        f"--ignore-target to {doing} anyway"
    )


def recompile_for(command: str, python: str) -> str:
    """The lock's recorded compile command with its target replaced by ``python``."""
    try:
        words = shlex.split(command) if command else []
    except ValueError:
        words = []
    if words[:2] != ["lockbuild", "compile"]:
        words = ["lockbuild", "compile"]
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word.split("=", 1)[0] in ("--python", "--python-version", "--platform"):
            skip = "=" not in word
            continue
        kept.append(word)
    return shlex.join([*kept, "--python", python])


def build_settings(
    env: Environment, index: IndexOptions, jobs: int, verbose: bool, recompile: str
) -> BuildSettings:
    cache_dir = default_cache_dir()
    return BuildSettings(
        python=env.python,
        python_key=python_key(dict(env.markers)),
        wheelhouse=cache_dir / "wheelhouse",
        cache=Cache(cache_dir),
        index=index,
        jobs=jobs or default_jobs(),
        verbose=verbose,
        markers=env.markers,
        recompile=recompile,
    )


def _build(
    ctx: _Context, plan: Plan, builds: Mapping[NormalizedName, BuildJob]
) -> dict[NormalizedName, BuildResult]:
    """Every wheel the plan installs from an sdist, built (or found) before anything in
    the environment changes; a failure leaves the environment as it was."""
    needed = [c.name for c in plan.installs if c.name in builds]
    if not needed:
        return {}
    jobs = build_jobs(ctx.pair, needed)
    index = overridden(ctx.pair.lock.index_options(), ctx.options.index_flags)
    settings = build_settings(
        ctx.env, index, ctx.options.jobs, ctx.options.verbose, ctx.pair.command
    )
    say = (lambda _m: None) if ctx.options.quiet else ctx.err
    try:
        return Builder(settings, say).run(jobs)
    except SdistBuildError as exc:
        if not ctx.options.quiet:
            lines = exc.log.read_text(encoding="utf-8", errors="replace").splitlines()
            show_tail(ctx.err, lines, "build log")
        raise BuildError(
            f"{exc.text}; nothing was changed in {ctx.env.prefix}; full log: {exc.log}"
        ) from None
    except BuildError as exc:
        raise BuildError(f"{exc.message}; nothing was changed in {ctx.env.prefix}") from None


def _print_plan(plan: Plan, out: Log, prefix: str, limit: int = 20) -> None:
    for change in plan.changes[:limit]:
        out(f"  {prefix}{change.describe()}")
    if len(plan.changes) > limit:
        out(f"  ... and {len(plan.changes) - limit} more")


def _apply(
    ctx: _Context, plan: Plan, scratch: Path, built: Mapping[NormalizedName, BuildResult]
) -> None:
    """Install and upgrade first; uninstall extras only once that has succeeded."""
    progress = InstallerProgress(enabled=not ctx.options.quiet and not ctx.options.verbose)
    runs: list[RunResult] = []
    try:
        _run_installers(ctx, plan, scratch, built, progress, runs)
    finally:
        if runs:
            # The installer's own output, left out of sync's one line per action.
            log = keep_last_log(runs, default_cache_dir() / "logs")
            if ctx.options.verbose:
                ctx.err(f"lockbuild: installer output kept in {log}")


def _run_installers(
    ctx: _Context,
    plan: Plan,
    scratch: Path,
    built: Mapping[NormalizedName, BuildResult],
    progress: InstallerProgress,
    runs: list[RunResult],
) -> None:
    if plan.installs:
        pins = [ctx.pair.lock.pins[c.name] for c in plan.installs]
        requirements = scratch / "requirements.txt"
        requirements.write_text(requirements_text(pins, built), encoding="utf-8")
        leftover = any(not p.version for p in pins) or (
            not sdist_pins(ctx.pair.lock, ctx.pair.build) and bool(ctx.pair.build.pins)
        )
        argv, run_env = _install_command(ctx, requirements, scratch, installer_builds=leftover)
        if any(c.action == REBUILD for c in plan.installs):
            argv.append("--reinstall" if ctx.installer.kind == "uv" else "--force-reinstall")
        result = run_installer(argv, run_env, progress, ctx.options.verbose, ctx.err)
        runs.append(result)
        if result.returncode != 0:
            _install_failed(ctx, result)
    if plan.removals:
        names = [c.name for c in plan.removals]
        result = run_installer(
            ctx.installer.uninstall_argv(names),
            _base_env(),
            progress,
            ctx.options.verbose,
            ctx.err,
        )
        runs.append(result)
        if result.returncode != 0:
            log_path = keep_log(result)
            if not ctx.options.verbose:
                show_tail(ctx.err, result.output, "uninstall output")
            raise InstallError(
                f"removing {', '.join(names)} failed ({last_error(result.output)}); "
                f"the locked pins are installed, {ctx.env.prefix} is left as "
                f"{ctx.installer.kind} left it; full log: {log_path}"
            )


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _install_command(
    ctx: _Context, requirements: Path, scratch: Path, *, installer_builds: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The install command; ``installer_builds`` says whether the installer may still
    build something itself (a direct reference, a pair written before sync built sdists):
    only then do the warnings about unchecked build hashes apply."""
    options = overridden(ctx.pair.lock.index_options(), ctx.options.index_flags)
    argv = [*ctx.installer.install_argv(requirements, options), *ctx.options.pip_args]
    env = _base_env()
    build = ctx.pair.build
    if not build.pins:
        return argv, env
    # pip and uv reuse a wheel they built earlier from the same sdist whatever it was
    # built against: a cache of their own per set of build pins keeps that from happening.
    cache = installer_cache_dir(ctx.installer.kind, build)
    argv += ["--cache-dir", str(cache)]
    if ctx.options.verbose:
        ctx.err(f"lockbuild: {ctx.installer.kind} cache for this set of build pins: {cache}")
    build_path = str(ctx.pair.build_path.resolve())
    if ctx.pair.twin is not None:
        # The build file is not requirements text (a pylock pair keeps a text twin for
        # pip and uv): the installer gets the build pins of the model, with every hash.
        text_copy = scratch / "pylock-build-constraints.txt"
        text_copy.write_text(requirements_text(build.pins.values()), encoding="utf-8")
        build_path = str(text_copy)
    route = ctx.installer.route
    if route in ("--build-constraint", "--build-constraints"):
        argv += [route, build_path]
        if (
            installer_builds
            and ctx.installer.kind == "uv"
            and any(pin.hashes for pin in build.pins.values())
        ):
            # Measured with uv 0.13.9: a wrong hash in --build-constraints is not noticed.
            ctx.err(
                "lockbuild: warning: uv does not check the hashes in --build-constraints; "
                "build dependencies are pinned but not hash-checked"
            )
        return argv, env
    # Old pip: PIP_CONSTRAINT reaches the isolated build environments. It is split on
    # whitespace and cannot carry hashes there, so pass a plain copy when needed.
    ours = Path(build_path)
    hashed = any(pin.hashes for pin in build.pins.values())
    if hashed or any(ch.isspace() for ch in build_path):
        ours = hash_free_copy(build, scratch / "build-constraints.txt")
    if hashed and installer_builds:
        ctx.err(
            f"lockbuild: warning: build dependencies are not hash-checked with "
            f"{ctx.installer.label} (older than {PIP_BUILD_CONSTRAINT}): their pins reach "
            "the build environments through PIP_CONSTRAINT, which cannot carry hashes"
        )
    existing = os.environ.get("PIP_CONSTRAINT")
    config = [] if existing and existing.strip() else configured_constraints(ctx.env.prefix)
    env["PIP_CONSTRAINT"] = constraint_env_value(ours, existing, config)
    if ctx.options.verbose:
        ctx.err(f"lockbuild: PIP_CONSTRAINT={env['PIP_CONSTRAINT']}")
    return argv, env


def _install_failed(ctx: _Context, result: RunResult) -> None:
    log_path = keep_log(result)
    installer = ctx.installer.kind
    left = f"nothing was uninstalled; {ctx.env.prefix} is left as {installer} left it"
    failed = failed_builds(result.output, ctx.pair.lock.pins)
    if not ctx.options.verbose:
        show_tail(ctx.err, result.output, f"{installer} output")
    if failed:
        name = failed[0]
        pin = ctx.pair.lock.pins[name]
        deps = build_dependencies(ctx.pair.build, name)
        given = ", ".join(f"{d.name}=={d.version}" for d in deps) if deps else "none pinned for it"
        others = f" (also failed: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise BuildError(
            f"building {name} {pin.version} from its sdist failed{others}; build "
            f"dependencies given ({ctx.installer.route} "
            f"{display_path(ctx.pair.build_path)}): {given}; {left}; "
            f"full log: {log_path}"
        )
    raise InstallError(
        f"{ctx.installer.label} failed (exit {result.returncode}): "
        f"{last_error(result.output)}; {left}; full log: {log_path}"
    )
