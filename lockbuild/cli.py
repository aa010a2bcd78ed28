"""Command line: compile, sync, check and why. Heavy modules are imported inside the
commands so that ``--help`` starts fast."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


def run_guarded(verbose: bool, action: Callable[[], int | None]) -> None:
    """Run a command body, turning user-facing errors into one message and an exit code."""
    from .errors import LockbuildError

    try:
        code = action()
    except LockbuildError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"lockbuild: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("lockbuild: interrupted; no files were changed", err=True)
        sys.exit(130)
    sys.exit(code or 0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lockbuild")
def main() -> None:
    """Lock runtime and build dependencies together, and install them as locked."""


@main.command("compile")
@click.argument("src_files", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output-file", type=click.Path(path_type=Path), help="Lockfile to write.")
@click.option(
    "--build-output-file",
    type=click.Path(path_type=Path),
    help="Build constraints file to write (default: <lockfile stem>-build.txt).",
)
@index_options
@click.option("--pre", is_flag=True, help="Allow pre-release versions.")
@click.option("--only-binary", multiple=True, help="Use only wheels for these (or :all:).")
@click.option("--no-binary", multiple=True, help="Build these from sdists (or :all:).")
@click.option("-U", "--upgrade", is_flag=True, help="Ignore the pins of the existing lockfile.")
@click.option("-P", "--upgrade-package", multiple=True, help="Let this package move (repeatable).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache directory.")
@click.option("--no-cache", is_flag=True, help="Use no on-disk cache.")
@click.option("--offline", is_flag=True, help="Use only the cache; no network.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("-v", "--verbose", is_flag=True, help="More detail, tracebacks on errors.")
def compile_command(
    src_files: tuple[Path, ...],
    output_file: Path | None,
    build_output_file: Path | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
    pre: bool,
    only_binary: tuple[str, ...],
    no_binary: tuple[str, ...],
    upgrade: bool,
    upgrade_package: tuple[str, ...],
    cache_dir: Path | None,
    no_cache: bool,
    offline: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Resolve SRC_FILES (default requirements.in) into a lockfile and a build file."""

    def action() -> int:
        from . import lock, target
        from .spec import IndexOptions, _format_names

        sources = src_files or (Path("requirements.in"),)
        output = output_file or lock.default_output(sources)
        from .lockfile import build_file_for

        cli_index = IndexOptions(
            index_url=index_url,
            extra_index_urls=extra_index_url,
            find_links=tuple(str(Path(f).resolve()) if "://" not in f else f for f in find_links),
            no_index=no_index,
            only_binary=frozenset().union(*(_format_names(v) for v in only_binary)),
            no_binary=frozenset().union(*(_format_names(v) for v in no_binary)),
            pre=pre,
        )
        options = lock.CompileOptions(
            sources=tuple(sources),
            output_file=output,
            build_output_file=build_output_file or build_file_for(output),
            cli_index=cli_index,
            cli_index_url_set=index_url is not None,
            upgrade=upgrade,
            upgrade_packages=upgrade_package,
            cache_dir=lock.cache_root(cache_dir, no_cache),
            offline=offline,
            quiet=quiet,
            verbose=verbose,
            command=lock.command_line(sys.argv[1:]),
        )
        log = _stderr(quiet)
        result = lock.compile_lock(options, target.current(), log)
        lock.write_outputs(options, result)
        log(
            f"wrote {output} ({len(result.runtime)} pins) and "
            f"{options.build_output_file} ({len(result.build)} build pins)"
        )
        return 0

    run_guarded(verbose, action)
