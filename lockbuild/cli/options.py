"""Compile options settled: the default output, the index options in force (pip's
configuration, the inputs, the command line), the option lines a lockfile starts with,
and the digests that let ``check`` decide staleness without the network. The options
themselves are a value of the kernel (``spec.CompileOptions``)."""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lockbuild.cli.reqfile import read_spec
from lockbuild.credentials import redact_text
from lockbuild.errors import UsageError
from lockbuild.index.cache import Cache, default_cache_dir
from lockbuild.index.pipconfig import pip_config_options
from lockbuild.spec import CompileOptions, IndexOptions, Spec
from lockbuild.target import Target


def default_output(sources: Sequence[Path]) -> Path:
    """``requirements.in`` -> ``requirements.txt`` beside it (pip-compile's rule)."""
    first = sources[0] if sources else Path("requirements.in")
    if first.name in ("pyproject.toml", "setup.py", "setup.cfg"):
        return first.with_name("requirements.txt")
    if first.suffix == ".txt":
        raise UsageError(f"{first}: give --output-file; the default would overwrite the input")
    return first.with_suffix(".txt")


def effective_options(options: CompileOptions, spec_options: IndexOptions) -> IndexOptions:
    """pip configuration, then the input files' options, then the command line."""
    cli = options.cli_index
    cache = Cache(options.cache_dir) if options.cache_dir is not None else None
    opts = pip_config_options(cache).merged(spec_options).merged(cli)
    if cli.no_index:
        opts = replace(opts, no_index=True)
    if options.cli_index_url_set:
        opts = replace(opts, index_url=cli.index_url)
    return opts


def _file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def input_digests(
    options: CompileOptions, spec: Spec, index_options: IndexOptions, target: Target
) -> tuple[tuple[str, str], ...]:
    """What the header records so that ``check`` can tell, offline, whether the lock is
    stale: each input file's content, and one digest of everything else that shapes it."""
    out_dir = options.output_file.parent.resolve()
    files = [*spec.files_read, *(p.resolve() for p in options.build_constraint_files)]
    digests = [
        (Path(os.path.relpath(p, out_dir)).as_posix(), _file_digest(p))
        for p in dict.fromkeys(files)
    ]
    shaping = repr(
        (
            # redacted: check, reading the recorded (redacted) command, must agree
            [(k, redact_text(repr(v))) for k, v in index_options.digest_items()],
            target.identity(),
            target.description,
            options.result_flags(),
        )
    )
    digests.append(("options", "sha256:" + hashlib.sha256(shaping.encode()).hexdigest()))
    return tuple(digests)


def prepare(options: CompileOptions) -> tuple[Spec, IndexOptions]:
    """Read the inputs and settle the index options (no network)."""
    spec = read_spec(
        options.sources, extras=options.extras, all_extras=options.all_extras, groups=options.groups
    )
    return spec, effective_options(options, spec.options)


def command_line(argv: Sequence[str]) -> str:
    """The command recorded in the header: the arguments that shape the result."""
    skip_flags = {
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "--no-cache",
        "--offline",
        "--refresh",
        "--no-replay",
    }
    skip_values = {"--cache-dir", "--workers"}
    kept = drop_options(argv, skip_flags | skip_values, skip_values)
    return redact_text(" ".join(["lockbuild", *(shlex.quote(a) for a in kept)]))


def drop_options(
    words: Sequence[str],
    dropped: set[str],
    valued: set[str],
    *,
    drop_positionals: bool = False,
) -> list[str]:
    """Command-line ``words`` without the options named in ``dropped``. An option named
    in ``valued`` takes the next word as its value unless written ``--opt=value``; the
    value goes (or stays) with it. Positional words go too with ``drop_positionals``."""
    kept: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        key = word.split("=", 1)[0]
        if key in dropped or key in valued:
            value = rest.pop(0) if key in valued and "=" not in word and rest else None
            if key not in dropped:
                kept += [word] if value is None else [word, value]
            continue
        if word.startswith("-") or not drop_positionals:
            kept.append(word)
    return kept


def cache_root(cache_dir: Path | None, no_cache: bool) -> Path | None:
    if no_cache:
        return None
    return cache_dir or default_cache_dir()
