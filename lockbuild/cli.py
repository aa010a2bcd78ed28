"""Command line: compile, sync, check, why and wheelhouse. Heavy modules are imported inside the
commands so that ``--help`` starts fast."""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import __version__

F = TypeVar("F", bound=Callable[..., Any])


def _stderr(quiet: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    return log


def index_options(func: F) -> F:
    """The index flags shared by compile and sync (pip's names)."""
    options = [
        click.option("-i", "--index-url", help="Base URL of the Simple Repository API index."),
        click.option(
            "--extra-index-url", multiple=True, help="Extra index URL to search (repeatable)."
        ),
        click.option(
            "-f", "--find-links", multiple=True, help="Directory or page of distributions."
        ),
        click.option("--no-index", is_flag=True, help="Ignore indexes; only --find-links."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_guarded(
    verbose: bool, action: Callable[[], int | None], error_code: int | None = None
) -> None:
    """Run a command body, turning user-facing errors into one message and an exit code
    (``error_code``, when given, for every error: check keeps 1 for "stale")."""
    from .errors import LockbuildError

    try:
        code = action()
    except LockbuildError as exc:
        if verbose:
            traceback.print_exc()
        from .credentials import redact_text  # a URL's credentials never reach the terminal

        click.echo(f"lockbuild: error: {redact_text(exc.message)}", err=True)
        sys.exit(error_code or exc.exit_code)
    except KeyboardInterrupt:
        click.echo("lockbuild: interrupted; no files were changed", err=True)
        sys.exit(130)
    sys.exit(code or 0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lockbuild")
def main() -> None:
    """Lock runtime and build dependencies together, and install them as locked."""


def run() -> NoReturn:
    """The ``lockbuild`` program (console script and ``python -m lockbuild``): ``main``,
    then an exit that skips tearing the interpreter down.

    A compile leaves hundreds of thousands of objects (parsed pages, versions, metadata)
    that the interpreter would free one by one at exit, a fifth of a small lock's time.
    What an exit must do still happens: other non-daemon threads are waited for, atexit
    handlers (temporary-file finalizers, logging) run, and stdout and stderr are flushed.
    Young-object collections are also made rarer: a lock allocates many long-lived
    objects and few reference cycles."""
    gc.set_threshold(20_000, 50, 50)
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: object) -> NoReturn:
    """Exit with ``code`` (as SystemExit reads it) without finalizing the interpreter."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    # What the interpreter's own exit does first: the threading module's exit hooks
    # (they tell idle executor workers to stop) and a join of non-daemon threads.
    shutdown = getattr(threading, "_shutdown", None)
    if callable(shutdown):
        shutdown()
    else:  # pragma: no cover - another interpreter
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not current and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be said
            pass
    os._exit(status & 0xFF)  # as the interpreter reports SystemExit(status)


def compile_params(func: F) -> F:
    """The options shared by compile and check (check must see what compile saw)."""
    options = [
        click.argument("src_files", nargs=-1, type=click.Path(path_type=Path)),
        click.option(
            "-o", "--output-file", type=click.Path(path_type=Path), help="Lockfile to write."
        ),
        click.option(
            "--build-output-file",
            type=click.Path(path_type=Path),
            help="Build constraints file (default: <lockfile stem>-build<suffix>).",
        ),
        index_options,
        click.option("--pre", is_flag=True, help="Allow pre-release versions."),
        click.option("--only-binary", multiple=True, help="Only wheels for these (or :all:)."),
        click.option("--no-binary", multiple=True, help="Build these from sdists (or :all:)."),
        click.option("--generate-hashes", is_flag=True, help="Write --hash for every pin."),
        click.option("--extra", multiple=True, help="Project extra to include (pyproject input)."),
        click.option("--all-extras", is_flag=True, help="Include every extra of the project."),
        click.option("--group", multiple=True, help="PEP 735 dependency group to include."),
        click.option(
            "--python",
            "python",
            metavar="PATH",
            help="Lock for this interpreter (its markers and wheel tags).",
        ),
        click.option("--python-version", metavar="X.Y", help="Lock for this Python version."),
        click.option(
            "--platform", multiple=True, metavar="TAG", help="Lock for this platform tag."
        ),
        click.option(
            "--build-deps-for",
            type=click.Choice(["needed", "all"]),
            default="needed",
            show_default=True,
            help="Lock build requirements of sdists that will be built, or of all.",
        ),
        click.option(
            "--build-constraint",
            "build_constraint",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Requirements that bind build environments only (repeatable).",
        ),
        click.option(
            "--build-deps-as-of-release",
            is_flag=True,
            help="Each sdist's build requirements admit only releases uploaded no later "
            "than that sdist (PEP 700 upload times).",
        ),
        click.option(
            "--build-hooks/--no-build-hooks",
            default=True,
            help="Ask build backends for dynamic build requirements (default: yes).",
        ),
        click.option(
            "--exclude-newer",
            metavar="WHEN",
            help="Ignore files uploaded after this: a date (the whole day, local time), "
            "an RFC 3339 timestamp, or a duration before now ('7 days', 'P7D').",
        ),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache directory."),
        click.option(
            "--workers",
            default="8",
            show_default=True,
            metavar="N",
            help="Concurrent index requests (1 to 64).",
        ),
        click.option("--no-cache", is_flag=True, help="Use no on-disk cache."),
        click.option("-q", "--quiet", is_flag=True, help="No progress output."),
        click.option("-v", "--verbose", is_flag=True, help="More detail; tracebacks on errors."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _given(ctx: click.Context) -> set[str]:
    """The parameters the command line (or an environment variable) set explicitly."""
    from click.core import ParameterSource

    return {
        key
        for key in ctx.params
        if ctx.get_parameter_source(key) not in (ParameterSource.DEFAULT, None)
    }


def _compile_options(
    ctx: click.Context,
    params: dict[str, Any],
    given: set[str] | None = None,
    argv: list[str] | None = None,
) -> tuple[Any, Any]:
    """CompileOptions and Target from the command line over [tool.lockbuild] defaults.

    ``given`` names the parameters set explicitly (default: by this command line);
    ``argv`` is the compile command to record (default: this command line's)."""
    from . import config, limits, target
    from . import options as options_mod
    from .errors import UsageError
    from .lockfile import build_file_for
    from .spec import IndexOptions, format_names

    limits.check_environment()
    workers = _workers(params["workers"])
    sources: tuple[Path, ...] = params["src_files"] or (Path("requirements.in"),)
    cfg = config.load(sources)
    explicit = _given(ctx) if given is None else given
    for key, value in cfg.values.items():
        if key == "build_constraints":
            continue
        if key not in explicit:
            params[key] = value
    base = cfg.path.parent if cfg.path else Path(".")
    for key in ("output_file", "build_output_file"):
        if isinstance(params.get(key), str):
            params[key] = base / params[key]
    output: Path = params["output_file"] or options_mod.default_output(sources)
    find_links = tuple(
        link if "://" in link else str(Path(link).resolve()) for link in params["find_links"]
    )
    cli_index = IndexOptions(
        index_url=params["index_url"],
        extra_index_urls=tuple(params["extra_index_url"]),
        find_links=find_links,
        no_index=params["no_index"],
        only_binary=frozenset().union(*(format_names(v) for v in params["only_binary"])),
        no_binary=frozenset().union(*(format_names(v) for v in params["no_binary"])),
        pre=params["pre"],
    )
    exclude_newer = None
    if params["exclude_newer"]:
        exclude_newer = _parse_cutoff(ctx, params["exclude_newer"], cfg.path)
    options = options_mod.CompileOptions(
        sources=tuple(sources),
        output_file=output,
        build_output_file=params["build_output_file"] or build_file_for(output),
        cli_index=cli_index,
        cli_index_url_set=params["index_url"] is not None,
        upgrade=params.get("upgrade", False),
        upgrade_packages=tuple(params.get("upgrade_package", ())),
        cache_dir=options_mod.cache_root(params["cache_dir"], params["no_cache"]),
        workers=workers,
        offline=params.get("offline", False),
        refresh=params.get("refresh", False),
        replay=not params.get("no_replay", False),
        quiet=params["quiet"],
        verbose=params["verbose"],
        command=options_mod.command_line(["compile", *(sys.argv[2:] if argv is None else argv)]),
        build_hooks=params["build_hooks"],
        build_deps_for=params["build_deps_for"],
        build_constraint_files=tuple(params["build_constraint"]),
        build_constraints=tuple(cfg.values.get("build_constraints", ())),
        config_file=cfg.path,
        generate_hashes=params["generate_hashes"],
        extras=tuple(params["extra"]),
        all_extras=params["all_extras"],
        groups=tuple(params["group"]),
        exclude_newer=exclude_newer,
        build_deps_as_of_release=params["build_deps_as_of_release"],
    )
    if params["python"] and (params["python_version"] or params["platform"]):
        raise UsageError("--python cannot be combined with --python-version or --platform")
    if params["python"]:
        chosen = target.from_interpreter(params["python"])
    else:
        chosen = target.for_platform(params["python_version"], tuple(params["platform"]))
    return options, chosen


def _parse_cutoff(ctx: click.Context, text: str, config_file: Path | None) -> Any:
    from click.core import ParameterSource

    from . import cutoff
    from .errors import InputError, UsageError
    from .spec import display_path

    if ctx.get_parameter_source("exclude_newer") in (ParameterSource.DEFAULT, None):
        where = f"{display_path(config_file) if config_file else 'pyproject.toml'}: "
        try:
            return cutoff.parse(text, where=f"{where}[tool.lockbuild] exclude-newer")
        except UsageError as exc:
            raise InputError(exc.message) from None
    return cutoff.parse(text)


def _workers(value: object) -> int:
    """--workers as one line of error (click's range check adds its usage text)."""
    from .errors import UsageError

    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if not 1 <= number <= 64:
        raise UsageError(f"--workers {value}: expected a whole number from 1 to 64")
    return number


def _return_large_buffers_to_the_system() -> None:
    """Keep glibc from serving multi-megabyte index pages out of the heap, where they
    fragment it: buffers of 256 KiB and more are mapped and unmapped on their own.
    (glibc raises this threshold as large buffers are freed; fixing it, as the
    MALLOC_MMAP_THRESHOLD_ variable would, took peak memory on a 384-pin lock from
    about 330 to about 250 MiB.) Elsewhere this does nothing."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return


@main.command("compile")
@compile_params
@click.option("-U", "--upgrade", is_flag=True, help="Ignore the pins of the existing lockfile.")
@click.option("-P", "--upgrade-package", multiple=True, help="Let this package move (repeatable).")
@click.option("--offline", is_flag=True, help="Use only the cache; no network.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Revalidate every index page, even those the index says are still fresh.",
)
@click.option(
    "--no-replay",
    is_flag=True,
    help="Resolve even when an identical earlier run read exactly the index pages served "
    "now (whose result is otherwise reused).",
)
@click.pass_context
def compile_command(ctx: click.Context, /, **params: Any) -> None:
    """Resolve SRC_FILES (default requirements.in) into a lockfile and a build file."""

    def action() -> int:
        from . import lock
        from .outputs import write_outputs
        from .progress import Progress

        options, chosen = _compile_options(ctx, params)
        progress = Progress(sys.stderr, quiet=options.quiet)
        log = progress.message
        _return_large_buffers_to_the_system()
        if not options.verbose:
            # Build backends' own deprecation notices (setuptools prints hundreds of lines)
            # are about the sdists, not the lock: shown with -v only.
            import warnings

            from pyproject_hooks import BuildBackendWarning

            warnings.filterwarnings("ignore", category=BuildBackendWarning)
        progress.start()
        try:
            result = lock.compile_lock(options, chosen, log, progress)
            progress.phase("writing")
            write_outputs(options, result)
        finally:
            progress.close()
        log(
            f"wrote {options.output_file} ({len(result.runtime)} pins) and "
            f"{options.build_output_file} ({len(result.build)} build pins)"
        )
        from .heldback import from_lockfile, from_note
        from .pylock import held_back_notes, is_pylock

        if is_pylock(options.output_file):
            notes = held_back_notes(result.lockfile_text)
            found = [from_note(*note) for note in notes]
            held = [h for h in found if h is not None]
        else:
            held = from_lockfile(result.lockfile_text)
        for item in held:
            log(item.line())
        return 0

    run_guarded(params["verbose"], action)


@main.command("check")
@compile_params
@click.pass_context
def check_command(ctx: click.Context, /, **params: Any) -> None:
    """Exit 0 when the lock files are up to date with their inputs, 1 when not (offline).

    With no arguments, the lock is checked against the compile command recorded in its
    header; arguments given explicitly override what it recorded. Failures other than a
    stale lock exit 2."""

    def action() -> int:
        from . import check

        options, chosen = _check_options(ctx, params)
        problems = check.stale(options, chosen)
        if problems:
            for line in problems:
                click.echo(f"lockbuild check: {line}", err=True)
            click.echo(f"run: {check.recompile_hint(options)}", err=True)
            return 1
        if not options.quiet:
            click.echo(f"{options.output_file} and {options.build_output_file} are up to date")
        return 0

    run_guarded(params["verbose"], action, error_code=2)


# Parameters that only say where the lock is or how check runs: giving them still checks
# against the recorded command (and prints it as the fix).
_LOCATING = {"output_file", "build_output_file", "quiet", "verbose", "cache_dir", "no_cache"}
_LOCATING |= {"workers"}


def _check_options(ctx: click.Context, params: dict[str, Any]) -> tuple[Any, Any]:
    """What check compares the lock with: the compile command recorded in the lock's
    header, with the parameters given explicitly to check over it."""
    import shlex

    from . import check
    from .errors import UsageError

    given = _given(ctx)
    located, _ = _compile_options(ctx, dict(params), given)
    recorded = check.recorded_command(located.output_file)
    if recorded is None:
        return _compile_options(ctx, params, given)
    words = shlex.split(recorded)[2:]  # after "lockbuild compile"
    try:
        sub = compile_command.make_context("compile", list(words), parent=ctx.parent)
    except click.ClickException as exc:
        raise UsageError(
            f"{located.output_file}: the recorded command cannot be read "
            f"({exc.format_message()}): {recorded}"
        ) from None
    merged = {
        key: params[key] if key in given else sub.params.get(key, value)
        for key, value in params.items()
    }
    merged["output_file"] = located.output_file  # the lock the command was read from
    merged_given = given | (_given(sub) & set(params)) | {"output_file"}
    argv = words if given <= _LOCATING else [*_without(words, given), *sys.argv[2:]]
    return _compile_options(ctx, merged, merged_given, argv)


def _without(words: list[str], names: set[str]) -> list[str]:
    """The recorded compile arguments less those of the parameters in ``names`` (which
    check's own command line gives anew)."""
    flags: dict[str, tuple[bool, bool]] = {}  # option -> (dropped, takes a value)
    for param in compile_command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                flags[opt] = (param.name in names, not param.is_flag)
    kept: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        key = word.split("=", 1)[0]
        if key in flags:
            drop, takes_value = flags[key]
            if takes_value and "=" not in word and rest:
                value = rest.pop(0)
                if not drop:
                    kept += [word, value]
            elif not drop:
                kept.append(word)
        elif word.startswith("-") or "src_files" not in names:
            kept.append(word)
    return kept


@main.command("why")
@click.argument("name")
@click.argument("lockfile", required=False, type=click.Path(path_type=Path))
@click.option(
    "--build-constraints",
    type=click.Path(path_type=Path),
    help="Build file (default: beside the lockfile).",
)
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
def why_command(
    name: str, lockfile: Path | None, build_constraints: Path | None, verbose: bool
) -> None:
    """Show every path from an input requirement to NAME (build edges marked)."""

    def action() -> int:
        from . import explain

        for line in explain.why(name, lockfile or Path("requirements.txt"), build_constraints):
            click.echo(line)
        return 0

    run_guarded(verbose, action)


@main.command("sync")
@click.argument("lockfile", required=False, type=click.Path(path_type=Path))
@click.option(
    "--build-constraints",
    "build_constraints",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Build constraints file (default: <lockfile stem>-build.txt beside it).",
)
@click.option(
    "--python",
    "python",
    metavar="PATH",
    help="Interpreter or venv to sync (default: the active venv).",
)
@click.option("--system", is_flag=True, help="Allow syncing an interpreter that is not a venv.")
@click.option(
    "--installer",
    type=click.Choice(["pip", "uv"]),
    default="pip",
    show_default=True,
    help="pip: the target's own 'python -m pip'; uv: 'uv pip install --python TARGET'.",
)
@index_options
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Exit 1 with the plan when the env differs from the lock (versions and builds).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="sdists built in parallel (default: the CPU count, at most 4).",
)
@click.option(
    "--ignore-target",
    is_flag=True,
    help="Sync even when the env is not the target the lock was compiled for.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Show the installer's output, tracebacks.")
def sync_command(
    lockfile: Path | None,
    build_constraints: Path | None,
    python: str | None,
    system: bool,
    installer: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
    dry_run: bool,
    check_only: bool,
    jobs: int | None,
    ignore_target: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Make an environment match LOCKFILE (default requirements.txt), building every
    sdist against the pins of its build constraints file."""

    def action() -> int:
        from . import sync

        options = sync.SyncOptions(
            lockfile=lockfile or Path("requirements.txt"),
            build_file=build_constraints,
            python=python,
            system=system,
            installer=installer,
            index_url=index_url,
            extra_index_urls=extra_index_url,
            find_links=find_links,
            no_index=no_index,
            dry_run=dry_run,
            check=check_only,
            jobs=jobs or 0,
            ignore_target=ignore_target,
            quiet=quiet,
            verbose=verbose,
        )
        return sync.sync(options, click.echo, lambda m: click.echo(m, err=True))

    run_guarded(verbose, action)


@main.command("wheelhouse")
@click.argument("lockfile", required=False, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    "output",
    required=True,
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Directory to put a wheel of every pin into.",
)
@click.option(
    "--build-constraints",
    "build_constraints",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Build constraints file (default: <lockfile stem>-build.txt beside it).",
)
@click.option(
    "--python",
    "python",
    metavar="PATH",
    help="Interpreter the wheels are for (default: the active venv, else lockbuild's).",
)
@index_options
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="sdists built in parallel (default: the CPU count, at most 4).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
def wheelhouse_command(
    lockfile: Path | None,
    output: Path,
    build_constraints: Path | None,
    python: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
    jobs: int | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Put a wheel of every pin of LOCKFILE (default requirements.txt) into DIR: the
    index's wheels downloaded, the sdists built against their locked build pins."""

    def action() -> int:
        from . import sync, wheelhouse

        options = sync.SyncOptions(
            lockfile=lockfile or Path("requirements.txt"),
            build_file=build_constraints,
            python=python,
            index_url=index_url,
            extra_index_urls=extra_index_url,
            find_links=find_links,
            no_index=no_index,
            jobs=jobs or 0,
            quiet=quiet,
            verbose=verbose,
        )
        return wheelhouse.wheelhouse(
            wheelhouse.WheelhouseOptions(options, output),
            click.echo,
            lambda m: click.echo(m, err=True),
        )

    run_guarded(verbose, action)
