"""``lockbuild check``: is the lock pair up to date with its inputs? Answered offline,
from the digests compile recorded in the headers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lockbuild.cli.options import (
    OUTPUT_FLAGS,
    SHAPING,
    changed_options,
    declared_options,
    input_digests,
    prepare,
    shaping_values,
)
from lockbuild.credentials import redact_text
from lockbuild.errors import InputError, LockbuildError
from lockbuild.indexopts import option_lines
from lockbuild.lock.formats import read_lock, twin_for
from lockbuild.lock.model import BUILD_DIGEST, EXCLUDE_NEWER, TARGET
from lockbuild.lock.pair import pair_problems, recorded_inputs, two_problems
from lockbuild.spec import CompileOptions, IndexOptions, Spec, display_path
from lockbuild.target import Target


def recorded_command(lockfile: Path) -> str | None:
    """The compile command a lockbuild lockfile records, or None (no such file, not one
    lockbuild wrote, or unreadable: ``stale`` then says what is wrong)."""
    if not lockfile.is_file():
        return None
    try:
        locked = read_lock(lockfile)
    except InputError:
        return None
    command = locked.command
    if TARGET not in locked.meta or not command.startswith("lockbuild compile"):
        return None
    return command


def stale(options: CompileOptions, target: Target) -> list[str]:
    """What changed since the lock files were compiled; empty when they are up to date."""
    if not options.output_file.exists():
        return [f"{options.output_file} does not exist"]
    lock = read_lock(options.output_file)
    if TARGET not in lock.meta:
        raise InputError(
            f"{options.output_file}: not a lockfile written by lockbuild compile "
            "(no '# lockbuild-target:' header line)"
        )
    if not options.build_output_file.exists():
        return [f"{options.build_output_file} does not exist"]
    build = read_lock(options.build_output_file, what="build file")
    twin = twin_for(options.output_file)
    text_build = read_lock(twin, what="build file") if twin and twin.exists() else None
    spec, _ = prepare(options)
    values = shaping_values(options, spec, target)
    current = dict(input_digests(options, spec, target))
    recorded = recorded_inputs(lock)
    problems: list[str] = []
    for what, digest in current.items():
        if what == "options":
            continue
        if what not in recorded:
            problems.append(f"{what} is a new input")
        elif recorded[what] != digest:
            problems.append(f"{what} changed since the lock was compiled")
    for what in recorded:
        if what not in current:
            problems.append(f"{what} is no longer an input")
    if lock.first(TARGET) != target.description:
        problems.append(
            f"target changed: locked for {lock.first(TARGET)}, now {target.description}"
        )
    elif lock.first(EXCLUDE_NEWER) != (
        asked := options.exclude_newer.text.strip() if options.exclude_newer else None
    ):
        was = lock.first(EXCLUDE_NEWER)
        problems.append(
            f"exclude-newer changed: locked with {was or 'none'!r}, now {asked or 'none'!r}"
            if was or asked
            else "exclude-newer changed"
        )
    elif recorded.get("options") != current["options"]:
        problems += _changed_options(options, spec, recorded.get("options", ""), values)
    if twin is not None and text_build is None:
        return [
            *problems,
            f"{twin} does not exist",
            *two_problems(lock, build, lock.first(BUILD_DIGEST)),
        ]
    return problems + pair_problems(lock, build, text_build)


def _changed_options(
    options: CompileOptions, spec: Spec, recorded: str, values: Sequence[tuple[str, str]]
) -> list[str]:
    """One line per option whose value is not the one the lock was compiled with, saying
    what it is now and where that comes from."""
    names = changed_options(recorded, values)
    if not names:
        return [
            "options that shape the result changed (index, build or extras flags; the lock "
            "was written by an older lockbuild, which does not record which)"
        ]
    now = dict(values)
    return [
        f"{OUTPUT_FLAGS} changed since the lock was compiled: now "
        f"{', '.join(options.output_flags()) or 'none (lockbuild defaults)'}"
        if name == OUTPUT_FLAGS
        else f"{name} changed since the lock was compiled: now {_shown(now[name])} "
        f"({_origin(options, spec, name)})"
        for name in names
    ]


def _shown(value: str) -> str:
    text = value.strip("()[]").rstrip(",") if value.startswith(("(", "[")) else value
    return (text or "not set")[:200]


def _origin(options: CompileOptions, spec: Spec, name: str) -> str:
    """Where the value of the option ``name`` comes from now."""
    param = name.lstrip("-").replace("-", "_")
    param = {"no_build_hooks": "build_hooks"}.get(param, param)
    if param in options.configured and options.config_file is not None:
        return f"set by [tool.lockbuild] in {display_path(options.config_file)}"
    field = dict(SHAPING)[name]
    if field in IndexOptions.__dataclass_fields__:
        if getattr(options.cli_index, field):
            return "given on the command line"
        if getattr(spec.options, field):
            return "set by the input files"
        return "not given now"
    if param in options.given:
        return "given on the command line"
    return "the default now"


def machine_notes(options: CompileOptions) -> list[str]:
    """What pip's configuration here adds to the index options, or what it added where
    the lock was compiled, when the two differ: not part of a lock's identity (the
    machine's, not the project's; sync uses the lock's options), so said, not failed."""
    try:
        lock = read_lock(options.output_file)
        spec, effective = prepare(options)
    except LockbuildError:
        return []
    out_dir = options.output_file.parent
    declared = {
        redact_text(o) for o in option_lines(declared_options(options, spec.options), out_dir)
    }
    here = {redact_text(o) for o in option_lines(effective, out_dir)} - declared
    notes = []
    for line in lock.options:
        if line not in declared and line not in here:
            notes.append(
                f"the lock was compiled with {line} (from pip's configuration there), "
                "which is not in effect here; pip's configuration is not part of a "
                "lock's identity, and sync uses the lock's options"
            )
    for line in sorted(here - set(lock.options)):
        notes.append(
            f"{line} is in effect here ({_pip_source(line)}) but was not where the lock "
            "was compiled; pip's configuration is not part of a lock's identity"
        )
    return notes


_PIP_ENV = {
    "--index-url": "PIP_INDEX_URL",
    "--extra-index-url": "PIP_EXTRA_INDEX_URL",
    "--find-links": "PIP_FIND_LINKS",
    "--no-index": "PIP_NO_INDEX",
}


def _pip_source(line: str) -> str:
    flag, _, value = line.partition(" ")
    variable = _PIP_ENV.get(flag)
    given = os.environ.get(variable or "", "")
    if variable and given and (not value or value.rstrip("/") in redact_text(given)):
        return f"from the environment variable {variable}"
    return "from a pip configuration file"


def recompile_hint(options: CompileOptions) -> str:
    return options.command
