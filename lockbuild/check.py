"""``lockbuild check``: is the lock pair up to date with its inputs? Answered offline,
from the digests compile recorded in the headers."""

from __future__ import annotations

from .lockfile import (
    BUILD_DIGEST,
    EXCLUDE_NEWER,
    INPUTS,
    LOCK_DIGEST,
    TARGET,
    LockedFile,
    pins_digest,
    read_lockfile,
)
from .options import CompileOptions, input_digests, prepare
from .pylock import is_pylock, text_build_problems
from .target import Target


def recorded_inputs(locked: LockedFile) -> dict[str, str]:
    result = {}
    for value in locked.meta.get(INPUTS, []):
        what, _, digest = value.rpartition(" ")
        result[what] = digest
    return result


def pair_problems(lock: LockedFile, build: LockedFile) -> list[str]:
    """Why a lockfile and a build file do not belong together (empty when they do)."""
    problems = []
    if build.first(LOCK_DIGEST) != pins_digest(lock.pin_pairs()):
        problems.append(f"{build.path} was not compiled together with {lock.path}")
    elif lock.first(BUILD_DIGEST) != pins_digest(build.pin_pairs()):
        problems.append(f"{build.path} was changed after it was compiled with {lock.path}")
    return problems


def stale(options: CompileOptions, target: Target) -> list[str]:
    """What changed since the lock files were compiled; empty when they are up to date."""
    for path in (options.output_file, options.build_output_file):
        if not path.exists():
            return [f"{path} does not exist"]
    lock = read_lockfile(options.output_file)
    build = read_lockfile(options.build_output_file, what="build file")
    if TARGET not in lock.meta:
        return [f"{options.output_file} was not written by lockbuild"]
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
    if is_pylock(options.output_file):
        problems += text_build_problems(lock)
    return problems + pair_problems(lock, build)


def recompile_hint(options: CompileOptions) -> str:
    return options.command
