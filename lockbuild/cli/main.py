"""Command line: compile, sync, check, why and wheelhouse. Heavy modules are imported inside the
commands so that ``--help`` starts fast; each command's arguments are read in
``compileargs`` (compile, check) and ``syncargs`` (sync, wheelhouse)."""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from lockbuild import __version__, process
from lockbuild.cli.compileargs import check_options, compile_options, compile_params, index_options
from lockbuild.cli.syncargs import (
    BUILD_CONSTRAINTS,
    JOBS,
    LOCKFILE,
    LOCKFILES,
    QUIET,
    pip_sync_params,
    sync_options,
)
from lockbuild.credentials import redact_text
from lockbuild.errors import LockbuildError
from lockbuild.progress import bounded


def run_guarded(
    verbose: bool, action: Callable[[], int | None], error_code: int | None = None
) -> None:
    """Run a command body, turning user-facing errors into one message and an exit code
    (``error_code``, when given, for every error: check keeps 1 for "stale")."""
    try:
        code = action()
    except LockbuildError as exc:
        if verbose:
            traceback.print_exc()
        message = redact_text(exc.message)  # a URL's credentials never reach the terminal
        lines = [bounded(line) for line in f"lockbuild: error: {message}".split("\n")]
        click.echo("\n".join(lines), err=True)
        sys.exit(error_code or exc.exit_code)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        if signum == signal.SIGINT:
            click.echo("lockbuild: interrupted; no files were changed", err=True)
        else:
            click.echo(f"lockbuild: ended by {signal.Signals(signum).name}", err=True)
        sys.exit(128 + signum)
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
    process.supervise()
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        process.end_all()  # nothing of the run outlives it, even on a fault of its own
        raise
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
    # Every child first: threads waiting for one would hold the exit below.
    process.end_all()
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


def _return_large_buffers_to_the_system() -> None:
    """Keep glibc from serving multi-megabyte index pages out of the heap, where they
    fragment it: buffers of 256 KiB and more are mapped and unmapped on their own.
    (glibc raises this threshold as large buffers are freed; fixing it, as the
    MALLOC_MMAP_THRESHOLD_ variable would, took peak memory on a 384-pin lock from
    about 330 to about 250 MiB.) The fetch threads share one heap: glibc gives each
    thread that allocates while another holds the lock an arena of its own, and the
    free space left in each of them added up (home-assistant, warm --no-replay: peak
    301 -> 283 MiB, no more CPU). Elsewhere this does nothing."""
    import ctypes  # start-up speed: only compile needs it, and only on Linux

    if not sys.platform.startswith("linux"):
        return
    try:
        # The C library the interpreter already runs on, by its own handle: find_library
        # would start ldconfig to look for it, a child process on every compile.
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 1)  # M_ARENA_MAX
    except (OSError, AttributeError):  # musl has no mallopt: nothing to tune
        return


@main.command("compile")
@compile_params
@click.option(
    "-U", "--upgrade/--no-upgrade", default=False, help="Ignore the pins of the existing lockfile."
)
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
@click.option(
    "-r",
    "--rebuild",
    is_flag=True,
    help="pip-compile's: start afresh (as --refresh --no-replay).",
)
@click.option(
    "-n",
    "--dry-run",
    is_flag=True,
    help="Print the lockfile to stdout; write nothing.",
)
@click.pass_context
def compile_command(ctx: click.Context, /, **params: Any) -> None:
    """Resolve SRC_FILES (default requirements.in) into a lockfile and a build file."""

    def action() -> int:
        # start-up speed: each command loads only its own machinery (--help loads none)
        from lockbuild.cli import compile as lock
        from lockbuild.cli.compileargs import pip_compile_notes
        from lockbuild.cli.outputs import write_outputs
        from lockbuild.progress import Progress

        if params["rebuild"]:
            params["refresh"] = params["no_replay"] = True
        options, chosen = compile_options(ctx, params)
        progress = Progress(sys.stderr, quiet=options.quiet)
        log = progress.message
        if params["cert"]:
            # The CA bundle as pip's own PIP_CERT, which the index client reads.
            os.environ["PIP_CERT"] = str(Path(params["cert"]).resolve())
        if options.verbose:
            for note in pip_compile_notes(params):
                log(f"lockbuild: note: {note}")
        _return_large_buffers_to_the_system()
        progress.start()
        try:
            result = lock.compile_lock(options, chosen, log, progress)
            if not options.dry_run:
                progress.phase("writing")
                write_outputs(options, result)
        finally:
            progress.close()
        if options.dry_run:
            click.echo(result.lockfile_text, nl=False)
            log("Dry-run, so nothing updated.")
            return 0
        log(
            f"wrote {options.output_file} ({len(result.runtime)} pins) and "
            f"{options.build_output_file} ({len(result.build)} build pins)"
        )
        from lockbuild.lock.formats import parse_lock  # start-up speed
        from lockbuild.lock.model import HELD_BACK, NOT_BUILDABLE, SCOPED
        from lockbuild.resolve.heldback import from_note
        from lockbuild.resolve.whynewer import from_line, printed

        # Read back from the model, so that a replayed run prints the same lines.
        locked = parse_lock(result.lockfile_text, options.output_file)
        for pin in locked.pins.values():
            for note in pin.notes:
                held = from_note(pin.name, pin.version, note)
                if held is not None:
                    log(held.line())
        for line in locked.meta.get(HELD_BACK, ()):
            runtime_held = from_line(line)
            if runtime_held is not None and printed(runtime_held):
                log(runtime_held.line())
        built = parse_lock(result.build_text, options.build_output_file)
        scoped, unbuildable = built.meta.get(SCOPED, ()), built.meta.get(NOT_BUILDABLE, ())
        if scoped or unbuildable:
            # start-up speed: the build-fitting side, only when it has something to say
            from lockbuild.resolve.buildable import notices, scoped_notices

            for line in (*scoped_notices(scoped), *notices(unbuildable)):
                log(f"lockbuild: note: {line}")
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
        from lockbuild.cli import check  # start-up speed: only this command's machinery

        options, chosen = check_options(ctx, params, compile_command)
        problems = check.stale(options, chosen)
        # A stale lock's lines already name what differs; an up-to-date one says what
        # pip's configuration changes here (not part of its identity).
        for note in () if problems else check.machine_notes(options):
            click.echo(f"lockbuild check: note: {note}", err=True)
        if problems:
            for line in problems:
                click.echo(bounded(f"lockbuild check: {line}"), err=True)
            click.echo(f"run: {check.recompile_hint(options)}", err=True)
            return 1
        if not options.quiet:
            click.echo(f"{options.output_file} and {options.build_output_file} are up to date")
        return 0

    run_guarded(params["verbose"], action, error_code=2)


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
        from lockbuild.cli import why as explain  # start-up speed: only this command's

        for line in explain.why(name, lockfile or Path("requirements.txt"), build_constraints):
            click.echo(line)
        return 0

    run_guarded(verbose, action)


@main.command("sync")
@LOCKFILES
@BUILD_CONSTRAINTS
@click.option(
    "--python",
    "--python-executable",
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
@JOBS
@click.option(
    "--ignore-target",
    is_flag=True,
    help="Sync even when the env is not the target the lock was compiled for.",
)
@QUIET
@click.option("-v", "--verbose", is_flag=True, help="Show the installer's output, tracebacks.")
@pip_sync_params
@click.pass_context
def sync_command(ctx: click.Context, /, **params: Any) -> None:
    """Make an environment match LOCKFILES (default requirements.txt; several are joined,
    as pip-sync joins them), building every sdist against the pins of its build
    constraints file."""

    def action() -> int:
        # start-up speed: only this command's
        from lockbuild.cli import config
        from lockbuild.cli.compileargs import explicit_params
        from lockbuild.sync import run as sync

        cfg = config.load(
            tuple(params["lockfiles"]) or (Path("requirements.txt"),),
            explicit=params["config_file"],
            no_config=params["no_config"],
            command=ctx.command,
            section="sync",
        )
        given = explicit_params(ctx)
        params.update({k: v for k, v in cfg.values.items() if k not in given})
        options = sync_options(params)
        return sync.sync(
            options,
            click.echo,
            lambda m: click.echo(m, err=True),
            confirm=lambda question: click.confirm(question, default=False),
        )

    run_guarded(params["verbose"], action)


@main.command("wheelhouse")
@LOCKFILE
@click.option(
    "-o",
    "--output-dir",
    "output",
    required=True,
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Directory to put a wheel of every pin into.",
)
@BUILD_CONSTRAINTS
@click.option(
    "--python",
    "python",
    metavar="PATH",
    help="Interpreter the wheels are for (default: the active venv, else lockbuild's).",
)
@index_options
@JOBS
@click.option(
    "--ignore-target",
    is_flag=True,
    help="Build even when the interpreter is not the target the lock was compiled for.",
)
@QUIET
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
def wheelhouse_command(**params: Any) -> None:
    """Put a wheel of every pin of LOCKFILE (default requirements.txt) into DIR: the
    index's wheels downloaded, the sdists built against their locked build pins."""

    def action() -> int:
        from lockbuild.sync import wheelhouse  # start-up speed: only this command's

        return wheelhouse.wheelhouse(
            wheelhouse.WheelhouseOptions(sync_options(params), params["output"]),
            click.echo,
            lambda m: click.echo(m, err=True),
        )

    run_guarded(params["verbose"], action)
