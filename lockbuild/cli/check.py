"""``lockbuild check``: is the lock pair up to date with its inputs? Answered offline,
from the digests compile recorded in the headers."""

from __future__ import annotations

from pathlib import Path

from lockbuild.cli.options import input_digests, prepare
from lockbuild.errors import InputError
from lockbuild.lock.formats import read_lock, twin_for
from lockbuild.lock.model import BUILD_DIGEST, EXCLUDE_NEWER, TARGET
from lockbuild.lock.pair import pair_problems, recorded_inputs, two_problems
from lockbuild.spec import CompileOptions
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
    twin = twin_for(options.output_file)
    for path in (options.output_file, options.build_output_file):
        if not path.exists():
            return [f"{path} does not exist"]
    lock = read_lock(options.output_file)
    build = read_lock(options.build_output_file, what="build file")
    text_build = read_lock(twin, what="build file") if twin and twin.exists() else None
    if TARGET not in lock.meta:
        raise InputError(
            f"{options.output_file}: not a lockfile written by lockbuild compile "
            "(no '# lockbuild-target:' header line)"
        )
    spec, index_options = prepare(options)
    current = dict(input_digests(options, spec, index_options, target))
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
        problems.append("options that shape the result changed (index, build or extras flags)")
    if twin is not None and text_build is None:
        return [
            *problems,
            f"{twin} does not exist",
            *two_problems(lock, build, lock.first(BUILD_DIGEST)),
        ]
    return problems + pair_problems(lock, build, text_build)


def recompile_hint(options: CompileOptions) -> str:
    return options.command
