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
from lockbuild.indexopts import relative_location
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
    cache = Cache(options.cache_dir) if options.cache_dir is not None else None
    return _layered(pip_config_options(cache), options, spec_options)


def declared_options(options: CompileOptions, spec_options: IndexOptions) -> IndexOptions:
    """The index options the project itself gives (its input files, ``[tool.lockbuild]``
    and the command line), without pip's configuration: what a lock's identity holds.

    pip's configuration belongs to a machine (a mirror, a local wheel directory), not to
    the project: a lock compiled where it adds ``--find-links`` checks the same on a
    machine without it (check says what differs in a note)."""
    return _layered(IndexOptions(), options, spec_options)


def _layered(
    base: IndexOptions, options: CompileOptions, spec_options: IndexOptions
) -> IndexOptions:
    cli = options.cli_index
    opts = base.merged(spec_options).merged(cli)
    if cli.no_index:
        opts = replace(opts, no_index=True)
    if options.cli_index_url_set:
        opts = replace(opts, index_url=cli.index_url)
    return opts


def _file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# The options that shape a lock, each named as a user gives it, with the field of
# IndexOptions or CompileOptions that holds it. Their order is that of the fingerprints.
SHAPING = (
    ("--index-url", "index_url"),
    ("--extra-index-url", "extra_index_urls"),
    ("--find-links", "find_links"),
    ("--no-index", "no_index"),
    ("--trusted-host", "trusted_hosts"),
    ("--only-binary", "only_binary"),
    ("--no-binary", "no_binary"),
    ("--pre", "pre"),
    ("--index-strategy", "strategy"),
    ("target", "target"),
    ("--no-build-hooks", "build_hooks"),
    ("--build-deps-for", "build_deps_for"),
    ("build-constraints", "build_constraints"),
    ("--generate-hashes", "generate_hashes"),
    ("--extra", "extras"),
    ("--all-extras", "all_extras"),
    ("--group", "groups"),
    ("--exclude-newer", "exclude_newer"),
    ("--build-deps-as-of-release", "build_deps_as_of_release"),
)


def shaping_values(
    options: CompileOptions, spec: Spec, target: Target
) -> tuple[tuple[str, str], ...]:
    """Each option that shapes the lock with its value as text (redacted), in ``SHAPING``
    order; the index options as the project declares them (``declared_options``)."""
    declared = declared_options(options, spec.options)
    values: dict[str, object] = {
        field: getattr(declared, field) for field in IndexOptions.__dataclass_fields__
    }
    # A local --find-links as the lock writes it: relative to the lock's directory, so a
    # checkout elsewhere (CI) has the same identity.
    out_dir = options.output_file.parent
    values["find_links"] = tuple(relative_location(link, out_dir) for link in declared.find_links)
    values.update(
        target=(target.identity(), target.description),
        build_hooks=options.build_hooks,
        build_deps_for=options.build_deps_for,
        build_constraints=sorted(options.build_constraints),
        generate_hashes=options.generate_hashes,
        extras=sorted(options.extras),
        all_extras=options.all_extras,
        groups=sorted(options.groups),
        # The expression, not the moment: a relative cut-off ("7 days") moves, and check
        # compares what was asked for.
        exclude_newer=options.exclude_newer.text.strip() if options.exclude_newer else None,
        build_deps_as_of_release=options.build_deps_as_of_release,
    )
    shown = []
    for name, field in SHAPING:
        value = values[field]
        if isinstance(value, frozenset):
            value = sorted(value)
        shown.append((name, redact_text(repr(value))))
    # pip-compile's output flags, after the others and only where they differ from
    # lockbuild's defaults: a lock compiled without them keeps the identity it had.
    shown += [(OUTPUT_FLAGS, flag) for flag in options.output_flags()]
    return tuple(shown)


# The name check gives pip-compile's output flags (--no-strip-extras, --no-annotate, ...).
OUTPUT_FLAGS = "pip-compile output flags"


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def options_digest(values: Sequence[tuple[str, str]]) -> str:
    """``sha256:<hex of all>:<fp>.<fp>...``: one fingerprint per option, which lets check
    name the option that differs."""
    whole = hashlib.sha256(repr(tuple(values)).encode()).hexdigest()
    return f"sha256:{whole}:" + ".".join(_fingerprint(f"{n}={v}") for n, v in values)


def changed_options(recorded: str, values: Sequence[tuple[str, str]]) -> list[str] | None:
    """The names of the options whose value differs from what ``recorded`` (an
    ``options_digest``) was taken over; None when the digest cannot say (an older one)."""
    _, _, prints = recorded.partition(":")[2].partition(":")
    fingerprints = prints.split(".") if prints else []
    if len(fingerprints) < len(SHAPING) or len(values) < len(SHAPING):
        return None
    names = [
        name
        for (name, value), fp in zip(values[: len(SHAPING)], fingerprints, strict=False)
        if _fingerprint(f"{name}={value}") != fp
    ]
    # The output flags that follow: one name for them all.
    tail = [_fingerprint(f"{n}={v}") for n, v in values[len(SHAPING) :]]
    if tail != fingerprints[len(SHAPING) :]:
        names.append(OUTPUT_FLAGS)
    return names


def input_digests(
    options: CompileOptions, spec: Spec, target: Target
) -> tuple[tuple[str, str], ...]:
    """What the header records so that ``check`` can tell, offline, whether the lock is
    stale: each input file's content, and a digest of every option that shapes it."""
    out_dir = options.output_file.parent.resolve()
    files = [*spec.files_read, *(p.resolve() for p in options.build_constraint_files)]
    digests = [
        (Path(os.path.relpath(p, out_dir)).as_posix(), _file_digest(p))
        for p in dict.fromkeys(files)
    ]
    digests.append(("options", options_digest(shaping_values(options, spec, target))))
    return tuple(digests)


def prepare(options: CompileOptions) -> tuple[Spec, IndexOptions]:
    """Read the inputs and settle the index options (no network)."""
    spec = read_spec(
        options.sources,
        extras=options.extras,
        all_extras=options.all_extras,
        groups=options.groups,
        constraint_files=options.constraint_files,
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
        "-n",
        "--dry-run",
        "-r",
        "--rebuild",
        "--color",
        "--no-color",
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
