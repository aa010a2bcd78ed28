"""Several lock pairs as one target state (``lockbuild sync a.txt b.txt``, as pip-sync
takes several files): each pair read and checked on its own, then their pins joined.
A project pinned to two versions is a one-line error (``--force``: the later file wins,
as pip-sync's); so is a build project pinned to two versions, since one build
constraints file goes to the installer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from packaging.utils import NormalizedName

from lockbuild.errors import InputError
from lockbuild.lock.model import INDEX_STRATEGY, SDIST, TARGET, LockedFile, LockedPin
from lockbuild.lock.pair import LockPair, check_pair, read_pair
from lockbuild.spec import display_path
from lockbuild.sync.installer import requirements_text

Warn = Callable[[str], None]


def read_pairs(
    lockfiles: Sequence[Path],
    build_file: Path | None,
    scratch: Path,
    *,
    force: bool = False,
    warn: Warn = lambda _m: None,
) -> LockPair:
    """One checked pair for ``lockfiles``: the pair itself for one lockfile; for several,
    their pins joined, with the joined build pins written to a file in ``scratch``."""
    if len(lockfiles) <= 1:
        pair = read_pair(lockfiles[0] if lockfiles else Path("requirements.txt"), build_file)
        check_pair(pair)
        return pair
    if build_file is not None:
        raise InputError("--build-constraints names one build file: give one lockfile with it")
    pairs = []
    for path in lockfiles:
        pair = read_pair(path)
        check_pair(pair)
        pairs.append(pair)
    targets = {pair.lock.first(TARGET) for pair in pairs}
    if len(targets) > 1:
        shown = "; ".join(f"{display_path(p.lock_path)}: {p.lock.first(TARGET)}" for p in pairs)
        raise InputError(f"the lockfiles were compiled for different targets ({shown})")
    name = " + ".join(display_path(p.lock_path) for p in pairs)
    lock = _join([p.lock for p in pairs], Path(name), "lockfile", force, warn)
    build = _join([p.build for p in pairs], scratch / "build-constraints.txt", "build", False, warn)
    build.path.write_text(requirements_text(build.pins.values()), encoding="utf-8")
    return LockPair(lock, build)


def _join(
    files: Sequence[LockedFile], path: Path, what: str, force: bool, warn: Warn
) -> LockedFile:
    joined = LockedFile(path)
    where: dict[NormalizedName, LockedFile] = {}
    for locked in files:
        for option in locked.options:
            if option not in joined.options:
                joined.options.append(option)
        for key, values in locked.meta.items():
            if key in (TARGET, SDIST, INDEX_STRATEGY):
                kept = joined.meta.setdefault(key, [])
                kept += [v for v in values if v not in kept]
        for pin in locked.pins.values():
            seen = joined.pins.get(pin.name)
            if seen is None:
                joined.pins[pin.name] = pin
                where[pin.name] = locked
                continue
            if seen.version == pin.version and seen.line.split(";")[0] == pin.line.split(";")[0]:
                joined.pins[pin.name] = _union(seen, pin)
                continue
            first = f"{seen.line} in {display_path(where[pin.name].path)}"
            second = f"{pin.line} in {display_path(locked.path)}"
            if force and what == "lockfile":
                warn(f"lockbuild: warning: {first} and {second}: the later wins (--force)")
                joined.pins[pin.name] = pin
                where[pin.name] = locked
                continue
            kind = "build pins" if what == "build" else "pins"
            hint = "" if what == "build" else " (--force: the later file wins)"
            raise InputError(f"conflicting {kind}: {first}, {second}{hint}")
    return joined


def _union(a: LockedPin, b: LockedPin) -> LockedPin:
    """One pin read from two files: its annotations and hashes from both."""
    return replace(
        a,
        via=tuple(dict.fromkeys((*a.via, *b.via))),
        hashes=tuple(dict.fromkeys((*a.hashes, *b.hashes))),
    )
