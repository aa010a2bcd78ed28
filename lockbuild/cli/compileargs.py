"""The arguments of compile and check: the options both take (check must see what
compile saw), read into ``CompileOptions`` and a ``Target`` over ``[tool.lockbuild]``
defaults; check's arguments laid over the compile command a lock recorded."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from lockbuild.errors import InputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


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
        click.option(
            "--index-strategy",
            type=click.Choice(["first-index", "unsafe-best-match"]),
            default="unsafe-best-match",
            show_default=True,
            help="How several indexes are searched: the best match across all of them "
            "(pip, pip-compile) or only the first index that lists a project (uv's default, "
            "safer against dependency confusion). Recorded in the lock for uv.",
        ),
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


def explicit_params(ctx: click.Context) -> set[str]:
    """The parameters the command line (or an environment variable) set explicitly."""
    return {
        key
        for key in ctx.params
        if ctx.get_parameter_source(key) not in (ParameterSource.DEFAULT, None)
    }


def compile_options(
    ctx: click.Context,
    params: dict[str, Any],
    given: set[str] | None = None,
    argv: list[str] | None = None,
) -> tuple[Any, Any]:
    """CompileOptions and Target from the command line over [tool.lockbuild] defaults.

    ``given`` names the parameters set explicitly (default: by this command line);
    ``argv`` is the compile command to record (default: this command line's)."""
    # start-up speed: --help and a usage error load none of this (target, options and
    # the lockfile take about 200 ms)
    from lockbuild import limits, target
    from lockbuild.build import probe
    from lockbuild.cli import config
    from lockbuild.cli import options as options_mod
    from lockbuild.lock.formats import build_file_for
    from lockbuild.spec import CompileOptions, IndexOptions, format_names

    limits.check_environment()
    workers = _workers(params["workers"])
    sources: tuple[Path, ...] = params["src_files"] or (Path("requirements.in"),)
    cfg = config.load(sources)
    explicit = explicit_params(ctx) if given is None else given
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
        strategy=params.get("index_strategy") or "unsafe-best-match",
    )
    exclude_newer = None
    if params["exclude_newer"]:
        exclude_newer = _parse_cutoff(ctx, params["exclude_newer"], cfg.path)
    options = CompileOptions(
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
        given=frozenset(explicit),
        configured=frozenset(k for k in cfg.values if k not in explicit),
    )
    if params["python"] and (params["python_version"] or params["platform"]):
        raise UsageError("--python cannot be combined with --python-version or --platform")
    if params["python"]:
        chosen = target.from_report(probe.markers_and_tags(params["python"]), params["python"])
    else:
        chosen = target.for_platform(params["python_version"], tuple(params["platform"]))
    return options, chosen


def _parse_cutoff(ctx: click.Context, text: str, config_file: Path | None) -> Any:
    # start-up speed: as in compile_options
    from lockbuild import cutoff
    from lockbuild.spec import display_path

    if ctx.get_parameter_source("exclude_newer") in (ParameterSource.DEFAULT, None):
        where = f"{display_path(config_file) if config_file else 'pyproject.toml'}: "
        try:
            return cutoff.parse(text, where=f"{where}[tool.lockbuild] exclude-newer")
        except UsageError as exc:
            raise InputError(exc.message) from None
    return cutoff.parse(text)


def _workers(value: object) -> int:
    """--workers as one line of error (click's range check adds its usage text)."""
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if not 1 <= number <= 64:
        raise UsageError(f"--workers {value}: expected a whole number from 1 to 64")
    return number


# Parameters that only say where the lock is or how check runs: giving them still checks
# against the recorded command (and prints it as the fix).
_LOCATING = {"output_file", "build_output_file", "quiet", "verbose", "cache_dir", "no_cache"}
_LOCATING |= {"workers"}


def check_options(
    ctx: click.Context, params: dict[str, Any], compile_command: click.Command
) -> tuple[Any, Any]:
    """What check compares the lock with: the compile command recorded in the lock's
    header (read as ``compile_command`` reads its arguments), with the parameters given
    explicitly to check over it."""
    from lockbuild.cli import check  # start-up speed: as in compile_options

    given = explicit_params(ctx)
    sources: tuple[Path, ...] = params.get("src_files") or ()
    if len(sources) == 1 and "output_file" not in given and _names_a_lock(sources[0]):
        # "lockbuild check pylock.toml": the lock to check, not an input to compile.
        params["src_files"], params["output_file"] = (), sources[0]
        given = (given - {"src_files"}) | {"output_file"}
    probe = dict(params)
    located, _ = compile_options(ctx, probe, given)
    if probe["output_file"] is None and not located.output_file.exists():
        # No -o and no output-file in [tool.lockbuild]: the pair the directory holds.
        pylock = located.output_file.with_name("pylock.toml")
        if pylock.exists():
            params["output_file"] = pylock
            given = given | {"output_file"}
            located, _ = compile_options(ctx, dict(params), given)
    recorded = check.recorded_command(located.output_file)
    if recorded is None:
        return compile_options(ctx, params, given)
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
    merged_given = given | (explicit_params(sub) & set(params)) | {"output_file"}
    argv = (
        words if given <= _LOCATING else [*_without(words, given, compile_command), *sys.argv[2:]]
    )
    return compile_options(ctx, merged, merged_given, argv)


def _names_a_lock(path: Path) -> bool:
    """Whether check's one argument is a lock rather than an input: a pylock file, or a
    ``.txt`` file (which compile never takes without ``-o``)."""
    from lockbuild.lock.formats import PYLOCK, format_of  # start-up speed

    return format_of(path) is PYLOCK or path.suffix == ".txt"


def _without(words: list[str], names: set[str], compile_command: click.Command) -> list[str]:
    """The recorded compile arguments less those of the parameters in ``names`` (which
    check's own command line gives anew)."""
    from lockbuild.cli.options import drop_options  # start-up speed: as in compile_options

    dropped, valued = set(), set()
    for param in compile_command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                if param.name in names:
                    dropped.add(opt)
                if not param.is_flag:
                    valued.add(opt)
    return drop_options(words, dropped, valued, drop_positionals="src_files" in names)
