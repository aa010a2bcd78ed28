"""``lockbuild wheelhouse``: every pin of a lock as a wheel in one directory.

The index's wheels are downloaded (hash-checked when the lockfile has hashes) by pip;
the sdists are built as sync builds them (against exactly their locked build pins, with
their provenance) or taken from the wheelhouse cache. The directory then installs the lock
with no index (``pip install --no-index --find-links DIR -r requirements.txt``) and can be
served by any index server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import Version

from lockbuild import limits
from lockbuild.atomic import replacing
from lockbuild.errors import InputError, InstallError, UsageError
from lockbuild.indexopts import IndexOptions, overridden, pip_inputs
from lockbuild.lock.lockfile import write_pair
from lockbuild.lock.model import LockedPin
from lockbuild.lock.pair import check_pair, read_pair
from lockbuild.process import ProcessTimeout, run_captured
from lockbuild.spec import display_path
from lockbuild.sync.builder import Builder
from lockbuild.sync.buildjob import BuildResult
from lockbuild.sync.diagnosis import show_tail
from lockbuild.sync.installer import requirements_text
from lockbuild.sync.interpreter import probe, target_python
from lockbuild.sync.plan import applies
from lockbuild.sync.run import (
    SyncOptions,
    build_jobs,
    build_settings,
    check_lock_target,
    lock_builds,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class WheelhouseOptions:
    sync: SyncOptions  # the lock pair, interpreter, index flags, jobs, quiet, verbose
    output: Path


def wheelhouse_python(python: str | None) -> str:
    """The interpreter builds are made for: --python, else the active venv, else the
    one lockbuild runs on."""
    if python:
        return target_python(python, True)
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and (Path(venv) / "bin" / "python").exists():
        return str(Path(venv) / "bin" / "python")
    return sys.executable


def wheelhouse(options: WheelhouseOptions, out: Log, err: Log) -> int:
    """Fill ``options.output`` with a wheel of every pin of the lock for the target."""
    sync = options.sync
    pair = read_pair(sync.lockfile, sync.build_file)
    check_pair(pair)
    dest = options.output
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"-o {dest}: not a directory")
    env = probe(wheelhouse_python(sync.python))
    check_lock_target(pair, env, sync.ignore_target, err, doing="build")
    markers = dict(env.markers)
    wanted = [p for p in pair.lock.pins.values() if applies(p, markers)]
    direct = [p.name for p in wanted if not p.version]
    if direct:
        raise InputError(
            f"{display_path(pair.lock_path)}: {', '.join(direct)} is a direct reference; "
            "lockbuild wheelhouse takes pins from an index only"
        )
    builds = lock_builds(pair)
    to_build = [p.name for p in wanted if p.name in builds]
    from_index = [p for p in wanted if p.name not in builds]
    index = overridden(pair.lock.index_options(), sync.index_flags)
    dest.mkdir(parents=True, exist_ok=True)
    say = (lambda _m: None) if sync.quiet else err
    results: dict[NormalizedName, BuildResult] = {}
    if to_build:
        settings = build_settings(env, index, sync.jobs, sync.verbose, pair.command)
        results = Builder(settings, say).run(build_jobs(pair, to_build))
    if from_index:
        _download(env.python, from_index, index, dest, sync.verbose, err)
    for name in to_build:
        _copy_in(results[name].wheel, dest)
        if not sync.quiet:
            out(f"  {results[name].describe()}")
    _write_hashed_lock(dest / wheels_lock_name(pair.lock_path), wanted, dest)
    if not sync.quiet:
        out(
            f"wrote {len(wanted)} wheels for {env.python} ({env.python_version}) into "
            f"{display_path(dest)}: {len(from_index)} from the index, {len(to_build)} built "
            "from sdists"
        )
    return 0


def _download(
    python: str,
    pins: list[LockedPin],
    index: IndexOptions,
    dest: Path,
    verbose: bool,
    err: Log,
) -> None:
    """The index's wheels of ``pins`` for ``python``, by pip (hashes checked when given)."""
    with tempfile.TemporaryDirectory(prefix="lockbuild-wheelhouse-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements_text(pins), encoding="utf-8")
        argv = [sys.executable, "-m", "pip", "--python", python, "download"]
        argv += ["--disable-pip-version-check", "--no-input", "--no-deps"]
        argv += ["--only-binary", ":all:", "-d", str(dest), *pip_inputs(index, formats=False).argv]
        argv += ["-r", str(req)]
        try:
            proc = run_captured(argv, timeout=limits.build_timeout())
        except (OSError, ProcessTimeout) as exc:
            raise InstallError(f"downloading the index's wheels failed: pip: {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        if not verbose:
            show_tail(err, lines, "pip download output")
        last = next((x for x in reversed(lines) if x.startswith("ERROR")), "no output")
        raise InstallError(f"downloading the index's wheels failed: {last}")


def wheels_lock_name(lockfile: Path) -> str:
    """``requirements.txt`` -> ``requirements-wheels.txt`` (never the lockfile's own name,
    so ``-o .`` cannot overwrite it)."""
    suffix = lockfile.suffix or ".txt"
    stem = lockfile.name[: -len(lockfile.suffix)] if lockfile.suffix else lockfile.name
    return f"{stem}-wheels{suffix}"


def _write_hashed_lock(path: Path, pins: list[LockedPin], dest: Path) -> None:
    """DIR/<lockfile stem>-wheels.txt: the pins with the sha256 of their wheels in DIR, for installs
    in hash-checking mode (the lock's own hashes name the sdists, not the wheels built)."""
    found: dict[NormalizedName, list[str]] = {}
    for wheel in sorted(dest.glob("*.whl")):
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        for pin in pins:
            if pin.name == name and Version(pin.version) == version:
                found.setdefault(name, []).append(sha256_file(wheel))
    lines = [
        "# written by lockbuild wheelhouse: the wheels in this directory, with their hashes",
        f"#    pip install --no-index --find-links {display_path(dest)} -r {display_path(path)}",
        "",
    ]
    for pin in pins:
        hashes = " ".join(f"--hash=sha256:{h}" for h in found.get(pin.name, []))
        lines.append(f"{pin.name}=={pin.version} {hashes}".rstrip())
    write_pair({path: "\n".join(lines) + "\n"})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_in(wheel: Path, dest: Path) -> None:
    with replacing(dest / wheel.name) as tmp:
        shutil.copyfile(wheel, tmp)
