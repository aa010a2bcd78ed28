"""The arguments of compile and check: the options both take (check must see what
compile saw), read into ``CompileOptions`` and a ``Target`` over ``[tool.lockbuild]``
defaults; check's arguments laid over the compile command a lock recorded."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
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
        click.option("-p", "--pre", is_flag=True, help="Allow pre-release versions."),
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
            type=click.Choice(["needed", "all", *PROJECT_BUILD_TARGETS]),
            multiple=True,
            help="needed (default): lock the build requirements of the sdists that will be "
            "built; all: of every pin. editable, sdist, wheel (pip-compile's, repeatable): "
            "also pin the project input's own build requirements for that target.",
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
        pip_compile_params,
    ]
    for option in reversed(options):
        func = option(func)
    return func


PROJECT_BUILD_TARGETS = ("editable", "sdist", "wheel")


def pip_compile_params(func: F) -> F:
    """pip-compile's options that lockbuild's own names do not already cover, with
    pip-compile's meaning (README: For pip-compile users)."""
    options = [
        click.option(
            "--strip-extras/--no-strip-extras",
            default=True,
            help="Write pins without extras (default, as uv); --no-strip-extras keeps "
            "them as pip-compile 7 does.",
        ),
        click.option(
            "--allow-unsafe/--no-allow-unsafe",
            default=True,
            help="Pin pip, setuptools and distribute (default), in a section of their own "
            "at the end; --no-allow-unsafe only names them there, unpinned.",
        ),
        click.option(
            "--unsafe-package",
            multiple=True,
            metavar="NAME",
            help="A package to treat as unsafe (repeatable); replaces the default set.",
        ),
        click.option(
            "--annotate/--no-annotate",
            default=True,
            help="Write '# via' annotations (default: yes).",
        ),
        click.option(
            "--annotation-style",
            type=click.Choice(["line", "split"]),
            default="split",
            show_default=True,
            help="'# via' on lines of their own, or on the pin's line.",
        ),
        click.option(
            "--emit-index-url/--no-emit-index-url",
            default=True,
            help="Write the index URLs into the lockfile (default: yes).",
        ),
        click.option(
            "--emit-find-links/--no-emit-find-links",
            default=True,
            help="Write --find-links into the lockfile (default: yes).",
        ),
        click.option(
            "--emit-trusted-host/--no-emit-trusted-host",
            default=True,
            help="Write --trusted-host into the lockfile (default: yes).",
        ),
        click.option(
            "--emit-options/--no-emit-options",
            default=True,
            help="Write any option lines into the lockfile (default: yes).",
        ),
        click.option(
            "--newline",
            type=click.Choice(["lf", "crlf", "native", "preserve"], case_sensitive=False),
            default="preserve",
            show_default=True,
            help="Line endings of the written files (preserve: the existing file's, else "
            "the first input's).",
        ),
        click.option(
            "-c",
            "--constraint",
            "constraint",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Constraints file for the runtime resolution (repeatable), as -c in an input.",
        ),
        click.option(
            "--trusted-host",
            multiple=True,
            metavar="HOST",
            help="Written into the lockfile for pip; lockbuild itself still verifies TLS.",
        ),
        click.option(
            "--uploaded-prior-to",
            metavar="WHEN",
            help="pip's name for --exclude-newer (an ISO 8601 date or timestamp).",
        ),
        click.option(
            "--all-build-deps",
            is_flag=True,
            help="pip-compile's: --build-deps-for editable, sdist and wheel.",
        ),
        click.option(
            "--only-build-deps",
            is_flag=True,
            help="pip-compile's: pin only the project input's own build requirements.",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Read [tool.lockbuild] (else [tool.pip-tools]) from this TOML file.",
        ),
        click.option("--no-config", is_flag=True, help="Read no configuration file."),
        click.option(
            "--pip-args",
            metavar="ARGS",
            help="pip options, as pip-compile passes them to pip: those that shape a "
            "lock are applied, others refused.",
        ),
        # Accepted for pip-compile's command lines; they change nothing here (-v says so).
        click.option("--cert", metavar="PATH", help="CA bundle (as PIP_CERT)."),
        click.option("--client-cert", metavar="PATH", help="Accepted; not used."),
        click.option("--header/--no-header", default=True, help="Accepted; the header stays."),
        click.option(
            "--reuse-hashes/--no-reuse-hashes", default=True, help="Accepted; nothing to reuse."
        ),
        click.option("--max-rounds", type=int, metavar="N", help="Accepted; not used."),
        click.option(
            "--resolver",
            "resolver_name",
            type=click.Choice(["legacy", "backtracking"]),
            help="Accepted; lockbuild has one resolver (backtracking).",
        ),
        click.option(
            "--build-isolation/--no-build-isolation",
            default=True,
            help="Accepted; build hooks always run isolated, against the locked build pins.",
        ),
        click.option("--color/--no-color", default=None, help="Accepted; no colour is used."),
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
    sources: tuple[Path, ...] = params["src_files"] or (Path("requirements.in"),)
    cfg = config.load(
        sources,
        explicit=params.get("config_file"),
        no_config=bool(params.get("no_config")),
        command=ctx.command,
    )
    explicit = explicit_params(ctx) if given is None else given
    for key, value in cfg.values.items():
        if key == "build_constraints":
            continue
        if key not in explicit:
            params[key] = value
    if params.get("pip_args"):
        explicit = explicit | apply_pip_args(params, explicit)
    workers = _workers(params["workers"])
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
    cli_index = replace(cli_index, trusted_hosts=tuple(params.get("trusted_host") or ()))
    exclude_newer = None
    if params.get("uploaded_prior_to"):
        from lockbuild import cutoff  # start-up speed, as the imports above

        if params["exclude_newer"] and "exclude_newer" in explicit:
            raise UsageError("give --uploaded-prior-to or --exclude-newer, not both")
        exclude_newer = cutoff.parse(params["uploaded_prior_to"], where="--uploaded-prior-to")
    elif params["exclude_newer"]:
        exclude_newer = _parse_cutoff(ctx, params["exclude_newer"], cfg.path)
    build_deps_for, project_targets = _build_deps_for(params)
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
        build_deps_for=build_deps_for,
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
        strip_extras=params["strip_extras"],
        allow_unsafe=params["allow_unsafe"],
        unsafe_packages=tuple(params["unsafe_package"]),
        annotate=params["annotate"],
        annotation_style=params["annotation_style"],
        emit_index_url=params["emit_index_url"],
        emit_find_links=params["emit_find_links"],
        emit_trusted_host=params["emit_trusted_host"],
        emit_options=params["emit_options"],
        newline=params["newline"].lower(),
        dry_run=bool(params.get("dry_run", False)),
        constraint_files=tuple(params["constraint"]),
        project_build_targets=project_targets,
        only_build_deps=params["only_build_deps"],
    )
    if params["python"] and (params["python_version"] or params["platform"]):
        raise UsageError("--python cannot be combined with --python-version or --platform")
    if params["python"]:
        chosen = target.from_report(probe.markers_and_tags(params["python"]), params["python"])
    else:
        chosen = target.for_platform(params["python_version"], tuple(params["platform"]))
    return options, chosen


def _build_deps_for(params: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """--build-deps-for carries two vocabularies: lockbuild's ``needed``/``all`` (which
    sdists' build requirements the build file locks) and pip-compile's ``editable``/
    ``sdist``/``wheel`` (the project input's own build requirements, pinned in the
    lockfile). Their words differ, so one option takes both."""
    value = params["build_deps_for"] or ()
    words = (value,) if isinstance(value, str) else tuple(value)
    modes = sorted({w for w in words if w in ("needed", "all")})
    if len(modes) > 1:
        raise UsageError("--build-deps-for needed and all exclude each other")
    targets = {w for w in words if w in PROJECT_BUILD_TARGETS}
    if params.get("all_build_deps"):
        targets |= set(PROJECT_BUILD_TARGETS)
    if params.get("only_build_deps") and not targets:
        raise UsageError(
            "--only-build-deps needs --build-deps-for editable|sdist|wheel or --all-build-deps"
        )
    return (modes[0] if modes else "needed"), tuple(sorted(targets))


# pip's options that --pip-args may carry: option -> (compile parameter, takes a value).
# Options about how pip runs (not what it resolves) are accepted and not used.
PIP_ARGS: dict[str, tuple[str | None, bool]] = {
    "-i": ("index_url", True),
    "--index-url": ("index_url", True),
    "--extra-index-url": ("extra_index_url", True),
    "-f": ("find_links", True),
    "--find-links": ("find_links", True),
    "--no-index": ("no_index", False),
    "--pre": ("pre", False),
    "--only-binary": ("only_binary", True),
    "--no-binary": ("no_binary", True),
    "--trusted-host": ("trusted_host", True),
    "-c": ("constraint", True),
    "--constraint": ("constraint", True),
    "--uploaded-prior-to": ("uploaded_prior_to", True),
    "--cert": ("cert", True),
    "--client-cert": ("client_cert", True),
    "--no-build-isolation": ("build_isolation", False),
    "--timeout": (None, True),
    "--retries": (None, True),
    "--proxy": (None, True),
    "--no-cache-dir": (None, False),
    "--disable-pip-version-check": (None, False),
    "--no-input": (None, False),
    "--isolated": (None, False),
    "--prefer-binary": (None, False),
    "--progress-bar": (None, True),
    "-v": (None, False),
    "--verbose": (None, False),
    "-q": (None, False),
    "--quiet": (None, False),
}


def apply_pip_args(params: dict[str, Any], explicit: set[str]) -> set[str]:
    """Lay --pip-args over ``params`` as if given on the command line (an option given
    there too keeps its own value; repeatable ones add up); returns the names set.
    An option that would shape a lock in a way lockbuild cannot follow is refused."""
    try:
        words = shlex.split(params["pip_args"])
    except ValueError as exc:
        raise UsageError(f"--pip-args {params['pip_args']!r}: {exc}") from None
    changed: set[str] = set()
    while words:
        word = words.pop(0)
        option, has_value, value = word.partition("=")
        if option not in PIP_ARGS:
            raise UsageError(
                f"--pip-args {word!r}: not a pip option lockbuild can apply (it takes: "
                f"{', '.join(o for o in PIP_ARGS if o.startswith('--'))})"
            )
        name, takes_value = PIP_ARGS[option]
        if has_value and not takes_value:
            raise UsageError(f"--pip-args {word!r}: {option} takes no value")
        if takes_value and not has_value:
            if not words:
                raise UsageError(f"--pip-args {option}: needs a value")
            value = words.pop(0)
        if name is None:
            continue
        typed: Any = Path(value) if name == "constraint" else value
        if not takes_value:
            # --no-build-isolation clears build_isolation; the others set their flag.
            params[name] = option != "--no-build-isolation"
        elif isinstance(params.get(name), tuple | list):
            params[name] = (*params[name], typed)
        elif name in explicit:
            continue
        else:
            params[name] = typed
        changed.add(name)
    return changed


def pip_compile_notes(params: dict[str, Any]) -> list[str]:
    """What -v says about pip-compile options that were given and change nothing here."""
    notes = []
    if params.get("client_cert"):
        notes.append("--client-cert: lockbuild does not present client certificates")
    if not params.get("header", True):
        notes.append("--no-header: the header stays (check, sync and why read it)")
    if params.get("max_rounds") is not None:
        notes.append("--max-rounds: lockbuild's resolver has no round limit to set")
    if params.get("resolver_name"):
        notes.append("--resolver: lockbuild has one resolver (backtracking)")
    if not params.get("reuse_hashes", True):
        notes.append("--no-reuse-hashes: hashes always come from the index")
    if not params.get("build_isolation", True):
        notes.append(
            "--no-build-isolation: build hooks still run isolated, against the locked build pins"
        )
    if params.get("color") is not None:
        notes.append("--color/--no-color: lockbuild writes no colour")
    if params.get("trusted_host"):
        notes.append("--trusted-host: written for pip; lockbuild still verifies TLS")
    return notes


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
