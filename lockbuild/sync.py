"""Sync: from a lockfile and its build constraints file to a matching environment.

The pair is checked first (digests, inputs), then the target environment is read back
through its own interpreter, diffed against the lockfile, and changed by pip or uv with
the build constraints wired in: install and upgrade first, uninstall extras only after
that succeeded, then read the environment again to verify it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from . import programs
from .builder import (
    Builder,
    BuildJob,
    BuildResult,
    BuildSettings,
    SdistBuildError,
    default_jobs,
    plan_jobs,
    python_key,
    sdist_pins,
)
from .cache import Cache, default_cache_dir
from .envlock import env_locked
from .errors import BuildError, InputError, InstallError, StaleError, UsageError
from .lockfile import (
    BUILD_DIGEST,
    INPUTS,
    LOCK_DIGEST,
    TARGET,
    LockedFile,
    LockedPin,
    build_file_for,
    is_lockbuild_file,
    pins_digest,
    read_lockfile,
)
from .pair import pair_problems
from .provenance import BuildRecord, difference, parse_record
from .spec import IndexOptions, display_path
from .target import ask_interpreter, recorded_mismatch

Log = Callable[[str], None]

# The first pip whose --build-constraint reaches isolated build environments.
PIP_BUILD_CONSTRAINT = Version("25.3")
# Never uninstalled for being unlisted: the installer's own tooling.
TOOLING = frozenset(canonicalize_name(n) for n in ("pip", "setuptools", "wheel"))
INSTALLERS = ("pip", "uv")


# --- options --------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncOptions:
    """Everything ``lockbuild sync`` was asked."""

    lockfile: Path
    build_file: Path | None = None
    python: str | None = None
    system: bool = False
    installer: str = "pip"
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    dry_run: bool = False
    check: bool = False
    quiet: bool = False
    verbose: bool = False
    jobs: int = 0  # parallel builds (0: builder.default_jobs())
    ignore_target: bool = False  # sync even when the env is not the lock's target


# --- the lock pair ----------------------------------------------------------------------
@dataclass(frozen=True)
class LockPair:
    lock: LockedFile
    build: LockedFile

    @property
    def lock_path(self) -> Path:
        return self.lock.path

    @property
    def build_path(self) -> Path:
        return self.build.path

    @property
    def command(self) -> str:
        return self.lock.command or self.build.command or "lockbuild compile"


def read_pair(lockfile: Path, build_file: Path | None = None) -> LockPair:
    """Read a lockfile and its build constraints file, refusing files that are neither."""
    lock = _read_as(lockfile, "lockfile")
    if not is_lockbuild_file(lock) or lock.first(BUILD_DIGEST) is None:
        if lock.first(LOCK_DIGEST) is not None:
            raise InputError(
                f"{lockfile} is a build constraints file, not a lockfile; "
                f"give the lockfile it belongs to (its pins are what sync installs)"
            )
        raise InputError(
            f"{lockfile} is not a lockfile written by lockbuild compile "
            f"(no '# {BUILD_DIGEST}:' header line); run lockbuild compile first"
        )
    build_path = build_file or build_file_for(lockfile)
    if not build_path.exists():
        raise InputError(
            f"{build_path}: no such build constraints file (the one beside {lockfile} "
            "is expected; give another with --build-constraints FILE)"
        )
    build = _read_as(build_path, "build constraints file")
    if build.first(LOCK_DIGEST) is None:
        raise InputError(
            f"{build_path} is not a build constraints file written by lockbuild compile "
            f"(no '# {LOCK_DIGEST}:' header line)"
        )
    return LockPair(lock, build)


def _read_as(path: Path, what: str) -> LockedFile:
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a {what}")
    try:
        return read_lockfile(path, what=what)
    except InputError as exc:
        if "no such" in exc.message:
            raise
        detail = exc.message.removeprefix(f"{path}").lstrip(": ")
        raise InputError(f"{path} is not a {what} ({detail})") from None


def check_pair(pair: LockPair) -> None:
    """Refuse a pair that does not belong together or whose inputs changed since compile."""
    lock_name = display_path(pair.lock_path)
    fix = f"recompile both with: {pair.command}"
    problems = pair_problems(pair.lock, pair.build)
    if problems:
        raise StaleError(f"{problems[0]}; {fix}")
    base = pair.lock_path.parent
    for entry in pair.lock.meta.get(INPUTS, []):
        what, _, digest = entry.rpartition(" ")
        if not what or what == "options" or not digest.startswith("sha256:"):
            continue
        path = base / what
        if not path.is_file():
            continue  # inputs not at hand: nothing to compare
        actual = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            raise StaleError(
                f"{display_path(path)} changed since {lock_name} was compiled; "
                f"recompile with: {pair.command}"
            )


# --- index options ------------------------------------------------------------------------
_VALUE_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
    "--only-binary": "only_binary",
    "--no-binary": "no_binary",
    "--trusted-host": "trusted_hosts",
}


def lock_index_options(locked: LockedFile) -> IndexOptions:
    """The index options recorded before the pins; relative --find-links are taken
    relative to the lockfile's directory (where compile wrote them from)."""
    values: dict[str, list[str]] = {key: [] for key in set(_VALUE_OPTIONS.values())}
    no_index = False
    for line in locked.options:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words:
            word = words.pop(0)
            key, eq, inline = word.partition("=")
            if key == "--no-index":
                no_index = True
            elif key in _VALUE_OPTIONS and (eq or words):
                values[_VALUE_OPTIONS[key]].append(inline if eq else words.pop(0))
    base = locked.path.parent
    links = tuple(_link_location(link, base) for link in values["find_links"])
    return IndexOptions(
        index_url=_unredacted(values["index_url"][-1]) if values["index_url"] else None,
        extra_index_urls=tuple(_unredacted(u) for u in values["extra_index_urls"]),
        find_links=links,
        no_index=no_index,
        only_binary=frozenset(n for v in values["only_binary"] for n in v.split(",") if n),
        no_binary=frozenset(n for v in values["no_binary"] for n in v.split(",") if n),
        trusted_hosts=tuple(values["trusted_hosts"]),
    )


def _link_location(link: str, base: Path) -> str:
    if "://" in link:
        return _unredacted(link)
    return link if os.path.isabs(link) else str((base / link).resolve())


def _unredacted(url: str) -> str:
    """A URL whose password compile wrote as ``****``, without it: ``user@host`` lets
    pip and uv find the password in keyring or netrc, as they would for ``--index-url``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    if "****" not in (password or user):
        return url
    netloc = host if user == "****" else f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def override_index_options(recorded: IndexOptions, options: SyncOptions) -> IndexOptions:
    """Each index flag given to sync replaces what the lockfile recorded for it; an index
    URL on the command line also lifts a recorded --no-index."""
    result = recorded
    if options.index_url is not None:
        result = replace(result, index_url=options.index_url, no_index=False)
    if options.extra_index_urls:
        result = replace(result, extra_index_urls=options.extra_index_urls, no_index=False)
    if options.find_links:
        links = tuple(f if "://" in f else str(Path(f).resolve()) for f in options.find_links)
        result = replace(result, find_links=links)
    if options.no_index:
        result = replace(result, no_index=True)
    return result


def index_args(options: IndexOptions) -> list[str]:
    """The index options as pip and uv both spell them."""
    args: list[str] = []
    if options.no_index:
        args.append("--no-index")
    else:
        if options.index_url:
            args += ["--index-url", options.index_url]
        for url in options.extra_index_urls:
            args += ["--extra-index-url", url]
    for link in options.find_links:
        args += ["--find-links", link]
    for host in options.trusted_hosts:
        args += ["--trusted-host", host]
    if options.only_binary:
        args += ["--only-binary", ",".join(sorted(options.only_binary))]
    if options.no_binary:
        args += ["--no-binary", ",".join(sorted(options.no_binary))]
    return args


# --- the target environment -----------------------------------------------------------
@dataclass(frozen=True)
class Installed:
    name: NormalizedName
    version: str
    requires: tuple[str, ...] = ()
    url: str | None = None
    record: BuildRecord | None = None  # provenance, when lockbuild built it


@dataclass(frozen=True)
class Environment:
    """What the target interpreter reports about itself."""

    python: str
    prefix: str
    is_venv: bool
    markers: tuple[tuple[str, str], ...]
    dists: tuple[Installed, ...]

    @property
    def by_name(self) -> dict[NormalizedName, Installed]:
        return {d.name: d for d in self.dists}

    @property
    def python_version(self) -> str:
        return dict(self.markers).get("python_full_version", "?")


def target_python(python: str | None, system: bool) -> str:
    """The interpreter to sync: --python, else the active venv, else (--system) python3."""
    if python:
        path = Path(python)
        if path.is_dir():
            for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
                if (path / candidate).exists():
                    return str(path / candidate)
            raise UsageError(f"--python {python}: a directory with no bin/python in it")
        if path.exists() or os.sep in python:
            return python
        found = shutil.which(python)
        if found is None:
            raise UsageError(f"--python {python}: no such interpreter")
        return found
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        for candidate in ("bin/python", "Scripts/python.exe"):
            if (Path(venv) / candidate).exists():
                return str(Path(venv) / candidate)
        raise UsageError(f"VIRTUAL_ENV={venv}: no interpreter in it; give --python PATH")
    if system:
        found = shutil.which("python3") or shutil.which("python")
        if found is None:
            raise UsageError("--system: no python3 on PATH; give --python PATH")
        return found
    raise UsageError(
        "no virtual environment is active (VIRTUAL_ENV is unset): activate one, "
        "give --python PATH, or add --system to sync the python3 on PATH"
    )


def probe(python: str) -> Environment:
    """Read the target environment through its own interpreter."""
    data = ask_interpreter(python, programs.path("environment"), label=python)
    seen: dict[NormalizedName, Installed] = {}
    for item in data["dists"]:
        name = canonicalize_name(item["name"])
        if name not in seen:  # the first on sys.path is the one imports see
            seen[name] = Installed(
                name,
                str(item["version"]),
                tuple(item["requires"]),
                item.get("url"),
                parse_record(item.get("build")),
            )
    return Environment(
        python=python,
        prefix=str(data["prefix"]),
        is_venv=bool(data["venv"]),
        markers=tuple(sorted((k, str(v)) for k, v in data["markers"].items())),
        dists=tuple(seen[n] for n in sorted(seen)),
    )


def check_lock_target(pair: LockPair, env: Environment, ignore: bool, err: Log) -> None:
    """Refuse an environment that is not the target the lock was compiled for (its
    implementation, Python X.Y, platform and machine), unless asked to go on anyway."""
    recorded = pair.lock.first(TARGET) or ""
    here = recorded_mismatch(recorded, dict(env.markers))
    if here is None:
        return
    what = f"{display_path(pair.lock_path)} was compiled for {recorded}, but {env.python} is {here}"
    if ignore:
        err(f"lockbuild: warning: {what}; syncing anyway (--ignore-target)")
        return
    raise UsageError(
        f"{what}; recompile for it (lockbuild compile --python {env.python}) or pass "
        "--ignore-target to sync anyway"
    )


def check_target(env: Environment, system: bool) -> None:
    if not env.is_venv and not system:
        raise UsageError(
            f"{env.python} is not a virtual environment (its prefix {env.prefix} is a base "
            "interpreter); refusing to change it: give --python a venv, or add --system "
            "to sync it anyway"
        )


def protected_names(env: Environment, installer: str) -> frozenset[NormalizedName]:
    """Installed tooling kept when unlisted: pip, setuptools, wheel, the uv package when
    it is the installer, and lockbuild with everything it needs when it lives there."""
    installed = env.by_name
    keep: set[NormalizedName] = {n for n in TOOLING if n in installed}
    if installer == "uv" and "uv" in installed:
        keep.add(canonicalize_name("uv"))
    markers = dict(env.markers)
    seen: set[NormalizedName] = set()
    stack = [canonicalize_name("lockbuild")]
    while stack:
        name = stack.pop()
        dist = installed.get(name)
        if dist is None or name in seen:
            continue
        seen.add(name)
        keep.add(name)
        for text in dist.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({**markers, "extra": ""}):
                continue
            stack.append(canonicalize_name(req.name))
    return frozenset(keep)


# --- the plan ---------------------------------------------------------------------------
INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REBUILD, REMOVE = (
    "install",
    "upgrade",
    "downgrade",
    "reinstall",
    "rebuild",
    "remove",
)


@dataclass(frozen=True)
class Change:
    action: str
    name: NormalizedName
    old: str | None = None
    new: str | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.action == REBUILD:
            return f"rebuild {self.name} {self.old}: {self.reason}"
        if self.action == INSTALL:
            return f"install {self.name} {self.new or ''}".rstrip()
        if self.action == REMOVE:
            return f"remove {self.name} {self.old}"
        if self.action == REINSTALL:
            return f"reinstall {self.name} {self.old} (from its locked reference)"
        return f"{self.action} {self.name} {self.old} -> {self.new}"


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    unchanged: tuple[NormalizedName, ...] = ()
    kept: tuple[NormalizedName, ...] = ()  # unlisted tooling left alone

    @property
    def installs(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != REMOVE)

    @property
    def removals(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == REMOVE)

    def counts(self) -> dict[str, int]:
        counts = {a: 0 for a in (INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REBUILD, REMOVE)}
        for change in self.changes:
            counts[change.action] += 1
        return counts


def applies(pin: LockedPin, markers: Mapping[str, str]) -> bool:
    """Whether a pin's marker (if it has one) holds in the target environment."""
    _, sep, marker_text = pin.line.partition(";")
    if not sep or pin.line.startswith("-"):
        return True
    try:
        return Marker(marker_text.strip()).evaluate({**markers, "extra": ""})
    except InvalidMarker:
        return True


def _reference(pin: LockedPin) -> str | None:
    """The URL of a direct-reference or editable pin."""
    if pin.line.startswith("-e"):
        url = pin.line[2:].strip().split()[0] if pin.line[2:].strip() else ""
    else:
        _, at, rest = pin.line.partition("@")
        if not at:
            return None
        url = rest.split(";")[0].strip()
    # direct_url.json records the URL without its fragment (#egg=, #sha256=...).
    return url.split("#", 1)[0] or None


def same_version(installed: str, locked: str) -> bool:
    if installed == locked:
        return True
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return False


def make_plan(
    locked: LockedFile,
    env: Environment,
    protected: Iterable[NormalizedName] = (),
    builds: Mapping[NormalizedName, BuildJob] | None = None,
) -> Plan:
    """What must change so that the environment holds exactly the lockfile's pins; a pin
    in ``builds`` (built from its sdist on this target) matches only when its build
    record says it was built from that sdist against exactly that build environment."""
    builds = builds or {}
    installed = env.by_name
    markers = dict(env.markers)
    wanted = {name: pin for name, pin in locked.pins.items() if applies(pin, markers)}
    changes: list[Change] = []
    unchanged: list[NormalizedName] = []
    for name in sorted(wanted):
        pin = wanted[name]
        have = installed.get(name)
        if not pin.version:  # a direct reference: compare where it came from
            if have is not None and have.url is not None and have.url == _reference(pin):
                unchanged.append(name)
            elif have is None:
                changes.append(Change(INSTALL, name, None, None))
            else:
                changes.append(Change(REINSTALL, name, have.version, None))
        elif have is None:
            changes.append(Change(INSTALL, name, None, pin.version))
        elif same_version(have.version, pin.version):
            why = build_mismatch(have, builds.get(name))
            if why:
                changes.append(Change(REBUILD, name, have.version, pin.version, why))
            else:
                unchanged.append(name)
        else:
            changes.append(
                Change(_direction(have.version, pin.version), name, have.version, pin.version)
            )
    keep = set(protected)
    kept: list[NormalizedName] = []
    for name in sorted(installed):
        if name in wanted:
            continue
        if name in keep:
            kept.append(name)
        else:
            changes.append(Change(REMOVE, name, installed[name].version, None))
    return Plan(tuple(changes), tuple(unchanged), tuple(kept))


def build_mismatch(have: Installed, job: BuildJob | None) -> str:
    """Why an installed build does not match the one the lock prescribes ('' if it does)."""
    if job is None:
        return ""
    record = have.record
    if record is None:
        return "built outside lockbuild (no build record)"
    if job.sdist.sha256 and record.sdist_sha256 != job.sdist.sha256:
        return (
            f"built from another sdist (sha256 {record.sdist_sha256[:12]}…, the lock's is "
            f"{job.sdist.sha256[:12]}…)"
        )
    if record.environment != job.environment:
        return difference(record.environment, job.environment)
    return ""


def _direction(old: str, new: str) -> str:
    try:
        return UPGRADE if Version(new) > Version(old) else DOWNGRADE
    except InvalidVersion:
        return REINSTALL


# --- installers -------------------------------------------------------------------------
@dataclass(frozen=True)
class Installer:
    """pip or uv, run against the target interpreter, with its detected version."""

    kind: str  # "pip" | "uv"
    argv: tuple[str, ...]  # how to run it: (python, -m, pip) or (uv,) / (python, -m, uv)
    version: Version
    python: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.version}"

    @property
    def route(self) -> str:
        """How the build constraints reach isolated builds."""
        if self.kind == "uv":
            return "--build-constraints"
        return "--build-constraint" if self.version >= PIP_BUILD_CONSTRAINT else "PIP_CONSTRAINT"

    def install_argv(self, requirements: Path, options: IndexOptions) -> list[str]:
        if self.kind == "uv":
            head = [*self.argv, "pip", "install", "--python", self.python]
        else:
            head = [*self.argv, "install", "--disable-pip-version-check"]
        return [*head, "--no-deps", *index_args(options), "-r", str(requirements)]

    def uninstall_argv(self, names: Sequence[str]) -> list[str]:
        if self.kind == "uv":
            return [*self.argv, "pip", "uninstall", "--python", self.python, *names]
        return [*self.argv, "uninstall", "--disable-pip-version-check", "-y", *names]


def find_installer(kind: str, python: str) -> Installer:
    """The target's own pip (``python -m pip``), or uv from PATH, beside lockbuild's
    interpreter, or ``python -m uv``; its version is asked, never assumed."""
    if kind == "pip":
        argv: tuple[str, ...] = (python, "-m", "pip")
        version = _version_of(argv, r"^pip (\S+)")
        if version is None:
            raise UsageError(
                f"{python} has no working pip ({python} -m pip --version failed); "
                "install pip there, or use --installer uv"
            )
        return Installer("pip", argv, version, python)
    if kind != "uv":
        raise UsageError(f"--installer {kind}: choose one of {', '.join(INSTALLERS)}")
    candidates: list[tuple[str, ...]] = []
    on_path = shutil.which("uv")
    if on_path:
        candidates.append((on_path,))
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    if beside.is_file():
        candidates.append((str(beside),))
    if importlib.util.find_spec("uv") is not None:
        candidates.append((sys.executable, "-m", "uv"))
    for argv in candidates:
        version = _version_of(argv, r"^uv (\S+)")
        if version is not None:
            return Installer("uv", argv, version, python)
    raise UsageError(
        "--installer uv: uv not found (looked on PATH, beside "
        f"{sys.executable} and for 'python -m uv'); install uv or use --installer pip"
    )


def _version_of(argv: Sequence[str], pattern: str) -> Version | None:
    try:
        proc = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, proc.stdout.strip(), re.MULTILINE)
    if proc.returncode != 0 or match is None:
        return None
    try:
        return Version(match.group(1))
    except InvalidVersion:
        return None


def pip_config_constraints(installer: Installer) -> list[str]:
    """Constraint files the target pip's configuration files name ([install] over
    [global]), which a PIP_CONSTRAINT variable would otherwise silently replace."""
    try:
        proc = subprocess.run(
            [*installer.argv, "config", "list"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, eq, value = line.partition("=")
        section, _, option = key.partition(".")
        if eq and option == "constraint" and section in ("global", "install"):
            try:
                found[section] = str(ast.literal_eval(value))
            except (ValueError, SyntaxError):
                found[section] = value.strip("'\"")
    chosen = found.get("install", found.get("global", ""))
    return chosen.split()


def constraint_env_value(ours: Path, existing_env: str | None, config: Sequence[str]) -> str:
    """PIP_CONSTRAINT joining the user's constraint files with ours (pip splits the
    variable on whitespace); an existing variable wins over the configuration files,
    as it does for pip."""
    existing = existing_env.split() if existing_env and existing_env.strip() else list(config)
    return " ".join([*existing, str(ours)])


def installer_cache_dir(kind: str, build: LockedFile) -> Path:
    """The installer's cache for one set of build pins, under lockbuild's cache."""
    digest = pins_digest(build.pin_pairs()).removeprefix("sha256:")[:16]
    return default_cache_dir() / "installers" / kind / digest


def hash_free_copy(build: LockedFile, dest: Path) -> Path:
    """The build file's pins without hashes or comments (for PIP_CONSTRAINT)."""
    lines = [pin.line for pin in build.pins.values()]
    dest.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return dest


def requirements_text(
    pins: Iterable[LockedPin], built: Mapping[NormalizedName, BuildResult] | None = None
) -> str:
    """Only the lines to install, with their hashes (pip checks all or none); a pin built
    into the wheelhouse is its wheel's path (with that wheel's hash when hashes are on)."""
    pins = list(pins)
    built = built or {}
    hashed = any(pin.hashes for pin in pins)
    out: list[str] = []
    for pin in pins:
        result = built.get(pin.name)
        if result is not None:
            digest = hashlib.sha256(result.wheel.read_bytes()).hexdigest()
            out.append(f"{result.wheel} --hash=sha256:{digest}" if hashed else str(result.wheel))
            continue
        parts = [pin.line, *(f"--hash=sha256:{h}" for h in pin.hashes)]
        out.append(" ".join(parts))
    return "".join(f"{line}\n" for line in out)


# --- running the installer, with progress ------------------------------------------------
_MILESTONE = re.compile(
    r"^\s*(Collecting|Downloading|Processing|Installing build dependencies|"
    r"Getting requirements|Preparing metadata|Building|Built|Installing collected|"
    r"Uninstalling|Successfully|Resolved|Prepared|Installed|Uninstalled)\b"
)


class Progress:
    """A one-line status on a terminal (milestone lines otherwise) on stderr."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._shown = False

    def line(self, text: str) -> None:
        if not self.enabled or not _MILESTONE.match(text) or text.endswith("'done'"):
            return
        text = " ".join(text.split())
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\x1b[K" + f"lockbuild: {text}"[:width])
            self._shown = True
        else:
            self.stream.write(f"  {text}\n")
        self.stream.flush()

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int
    output: tuple[str, ...]


def run_installer(
    argv: Sequence[str], env: Mapping[str, str], progress: Progress, verbose: bool, log: Log
) -> RunResult:
    """Run an installer, streaming its output: echoed with -v, else into the progress."""
    if verbose:
        log("lockbuild: running: " + shlex.join(argv))
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=dict(env),
        )
    except OSError as exc:
        raise InstallError(f"cannot run {argv[0]}: {exc}") from None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            text = raw.rstrip("\n")
            lines.append(text)
            if verbose:
                log(text)
            else:
                progress.line(text)
        code = proc.wait()
    finally:
        progress.clear()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return RunResult(tuple(argv), code, tuple(lines))


# --- failures ------------------------------------------------------------------------------
_NAME = r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
_BUILD_FAILED = (
    re.compile(rf"Failed building wheel for {_NAME}"),
    re.compile(rf"Failed to build `?(?!installable\b){_NAME}"),
    re.compile(rf"Could not build wheels for {_NAME}"),
    re.compile(rf"Building wheel for {_NAME} \(.*\) did not run successfully"),
)
_BUILD_STEP_FAILED = re.compile(
    r"(Getting requirements to build wheel|Preparing metadata \(pyproject\.toml\)|"
    r"pip subprocess to install build dependencies|"
    r"Building wheel for \S+ \(.*\)) did not run successfully"
)
_WHERE = re.compile(rf"^\s*(?:Collecting|Processing \S*/|Building wheel for) ?{_NAME}")


def failed_builds(output: Sequence[str], known: Iterable[str]) -> list[NormalizedName]:
    """Names of the locked projects whose sdist build the installer reports as failed."""
    names = {canonicalize_name(n) for n in known}
    found: list[NormalizedName] = []

    def add(text: str) -> None:
        name = canonicalize_name(re.split(r"[=<>!~@ ]|-\d", text)[0])
        if name in names and name not in found:
            found.append(name)

    current: str | None = None
    for line in output:
        where = _WHERE.match(line)
        if where:
            current = where.group(1)
        for pattern in _BUILD_FAILED:
            for match in pattern.finditer(line):
                add(match.group(1))
        if _BUILD_STEP_FAILED.search(line) and current is not None:
            add(current)
    return found


def build_dependencies(build: LockedFile, project: str) -> list[LockedPin]:
    """The build file's pins that go into ``project``'s build environment: those marked
    ``<project> (build)`` in their annotations, and what those need in turn."""
    name = canonicalize_name(project)
    chosen: dict[NormalizedName, LockedPin] = {}
    for pin in build.pins.values():
        if any(_via_name(v) == (name, True) for v in pin.via):
            chosen[pin.name] = pin
    grew = True
    while grew:
        grew = False
        for pin in build.pins.values():
            if pin.name in chosen:
                continue
            if any(_via_name(v)[0] in chosen and not _via_name(v)[1] for v in pin.via):
                chosen[pin.name] = pin
                grew = True
    return sorted(chosen.values(), key=lambda p: p.name)


def _via_name(via: str) -> tuple[NormalizedName | str, bool]:
    text = via.strip()
    if text.startswith(("-r ", "-c ")):
        return text, False
    build = text.endswith("(build)")
    return canonicalize_name(text.removesuffix("(build)").strip()), build


def _tail(lines: Sequence[str], count: int = 30) -> list[str]:
    meaningful = [line for line in lines if line.strip()]
    return meaningful[-count:]


def _last_error(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        text = line.strip()
        if text.lower().startswith(("error:", "× ", "x ")) or text.startswith("ERROR"):
            return " ".join(text.split())[:200]
    tail = _tail(lines, 1)
    return " ".join(tail[0].split())[:200] if tail else "no output"


def _keep_log(result: RunResult) -> Path:
    fd, name = tempfile.mkstemp(prefix="lockbuild-sync-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(result.argv) + "\n")
        handle.write("\n".join(result.output) + "\n")
    return Path(name)


# --- sync ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    """One sync run: the pair, the target, the installer and where messages go."""

    pair: LockPair
    env: Environment
    installer: Installer
    options: SyncOptions
    out: Log
    err: Log


def lock_builds(pair: LockPair) -> dict[NormalizedName, BuildJob]:
    """The pins the pair builds from sdists on its target (the ``lockbuild-sdist`` header
    lines), each with the build environment the build file prescribes for it."""
    sdists = sdist_pins(pair.lock, pair.build)
    names = [
        n
        for n, s in sdists.items()
        if n in pair.lock.pins and same_version(s.version, pair.lock.pins[n].version)
    ]
    return build_jobs(pair, names)


def build_jobs(pair: LockPair, names: Iterable[NormalizedName]) -> dict[NormalizedName, BuildJob]:
    sdists = sdist_pins(pair.lock, pair.build)

    def hashes(name: NormalizedName) -> tuple[str, ...]:
        pin = pair.lock.pins.get(name) or pair.build.pins.get(name)
        return pin.hashes if pin is not None else ()

    return plan_jobs(names, sdists, lambda n: build_dependencies(pair.build, n), hashes)


def sync(options: SyncOptions, out: Log, err: Log) -> int:
    """Make the target environment match the lockfile; returns the exit code."""
    pair = read_pair(options.lockfile, options.build_file)
    check_pair(pair)
    python = target_python(options.python, options.system)
    env = probe(python)
    check_target(env, options.system)
    check_lock_target(pair, env, options.ignore_target, err)
    installer = find_installer(options.installer, python)
    protected = protected_names(env, installer.kind)
    builds = lock_builds(pair)
    where = f"{env.prefix} (Python {env.python_version})"
    lock_name = display_path(pair.lock_path)
    if options.dry_run or options.check:
        plan = make_plan(pair.lock, env, protected, builds)
        _print_plan(plan, out, prefix="would ")
        if not plan.changes:
            out(f"nothing to do: {where} already matches {lock_name}")
            return 0
        if options.check:
            out(
                f"{where} differs from {lock_name}: {len(plan.changes)} change(s); "
                "run: lockbuild sync"
            )
            return 1
        out(
            f"dry run: {len(plan.changes)} change(s) to {where} with {installer.label}; "
            "nothing was changed"
        )
        return 0
    with env_locked(env.prefix, err):
        # Read again under the lock: another sync may have changed it since.
        env = probe(python)
        plan = make_plan(pair.lock, env, protected, builds)
        if not plan.changes:
            if not options.quiet:
                out(
                    f"nothing to do: {where} already matches {lock_name} "
                    f"({len(plan.unchanged)} pins)"
                )
            return 0
        context = _Context(pair, env, installer, options, out, err)
        results = _build(context, plan, builds)
        with tempfile.TemporaryDirectory(prefix="lockbuild-sync-") as scratch:
            _apply(context, plan, Path(scratch), results)
        after = probe(python)
        remaining = make_plan(pair.lock, after, protected, builds)
    if remaining.changes:
        shown = "; ".join(c.describe() for c in remaining.changes[:5])
        more = f" (and {len(remaining.changes) - 5} more)" if len(remaining.changes) > 5 else ""
        raise InstallError(
            f"{env.prefix} still differs from {lock_name} after "
            f"{installer.label} ran: still to {shown}{more}"
        )
    if not options.quiet:
        _print_plan(plan, out, prefix="")
        for result in results.values():
            if result.job.sdist.name in {c.name for c in plan.installs}:
                out(f"  {result.describe()}")
        counts = plan.counts()
        parts = [
            f"{counts[a]} {word}"
            for a, word in (
                (INSTALL, "installed"),
                (UPGRADE, "upgraded"),
                (DOWNGRADE, "downgraded"),
                (REINSTALL, "reinstalled"),
                (REBUILD, "rebuilt"),
                (REMOVE, "removed"),
            )
            if counts[a]
        ]
        out(
            f"synced {where} with {installer.label} (build constraints via "
            f"{installer.route}): {', '.join(parts)}, {len(plan.unchanged)} unchanged; "
            "verified"
        )
    return 0


def build_settings(
    env: Environment, index: IndexOptions, jobs: int, verbose: bool
) -> BuildSettings:
    cache_dir = default_cache_dir()
    return BuildSettings(
        python=env.python,
        python_key=python_key(dict(env.markers)),
        wheelhouse=cache_dir / "wheelhouse",
        cache=Cache(cache_dir),
        index=index,
        jobs=jobs or default_jobs(),
        verbose=verbose,
        markers=env.markers,
    )


def _build(
    ctx: _Context, plan: Plan, builds: Mapping[NormalizedName, BuildJob]
) -> dict[NormalizedName, BuildResult]:
    """Every wheel the plan installs from an sdist, built (or found) before anything in
    the environment changes; a failure leaves the environment as it was."""
    needed = [c.name for c in plan.installs if c.name in builds]
    if not needed:
        return {}
    jobs = build_jobs(ctx.pair, needed)
    index = override_index_options(lock_index_options(ctx.pair.lock), ctx.options)
    settings = build_settings(ctx.env, index, ctx.options.jobs, ctx.options.verbose)
    say = (lambda _m: None) if ctx.options.quiet else ctx.err
    try:
        return Builder(settings, say).run(jobs)
    except SdistBuildError as exc:
        if not ctx.options.quiet:
            lines = exc.log.read_text(encoding="utf-8", errors="replace").splitlines()
            _show_tail(ctx.err, lines, "build log")
        raise BuildError(
            f"{exc.text}; nothing was changed in {ctx.env.prefix}; full log: {exc.log}"
        ) from None
    except BuildError as exc:
        raise BuildError(f"{exc.message}; nothing was changed in {ctx.env.prefix}") from None


def _print_plan(plan: Plan, out: Log, prefix: str, limit: int = 20) -> None:
    for change in plan.changes[:limit]:
        out(f"  {prefix}{change.describe()}")
    if len(plan.changes) > limit:
        out(f"  ... and {len(plan.changes) - limit} more")


def _apply(
    ctx: _Context, plan: Plan, scratch: Path, built: Mapping[NormalizedName, BuildResult]
) -> None:
    """Install and upgrade first; uninstall extras only once that has succeeded."""
    progress = Progress(enabled=not ctx.options.quiet and not ctx.options.verbose)
    if plan.installs:
        pins = [ctx.pair.lock.pins[c.name] for c in plan.installs]
        requirements = scratch / "requirements.txt"
        requirements.write_text(requirements_text(pins, built), encoding="utf-8")
        leftover = any(not p.version for p in pins) or (
            not sdist_pins(ctx.pair.lock, ctx.pair.build) and bool(ctx.pair.build.pins)
        )
        argv, run_env = _install_command(ctx, requirements, scratch, installer_builds=leftover)
        if any(c.action == REBUILD for c in plan.installs):
            argv.append("--reinstall" if ctx.installer.kind == "uv" else "--force-reinstall")
        result = run_installer(argv, run_env, progress, ctx.options.verbose, ctx.err)
        if result.returncode != 0:
            _install_failed(ctx, result)
    if plan.removals:
        names = [c.name for c in plan.removals]
        result = run_installer(
            ctx.installer.uninstall_argv(names),
            _base_env(),
            progress,
            ctx.options.verbose,
            ctx.err,
        )
        if result.returncode != 0:
            log_path = _keep_log(result)
            if not ctx.options.verbose:
                _show_tail(ctx.err, result.output, "uninstall output")
            raise InstallError(
                f"removing {', '.join(names)} failed ({_last_error(result.output)}); "
                f"the locked pins are installed, {ctx.env.prefix} is left as "
                f"{ctx.installer.kind} left it; full log: {log_path}"
            )


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _install_command(
    ctx: _Context, requirements: Path, scratch: Path, *, installer_builds: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The install command; ``installer_builds`` says whether the installer may still
    build something itself (a direct reference, a pair written before sync built sdists):
    only then do the warnings about unchecked build hashes apply."""
    options = override_index_options(lock_index_options(ctx.pair.lock), ctx.options)
    argv = ctx.installer.install_argv(requirements, options)
    env = _base_env()
    build = ctx.pair.build
    if not build.pins:
        return argv, env
    # pip and uv reuse a wheel they built earlier from the same sdist whatever it was
    # built against: a cache of their own per set of build pins keeps that from happening.
    cache = installer_cache_dir(ctx.installer.kind, build)
    argv += ["--cache-dir", str(cache)]
    if ctx.options.verbose:
        ctx.err(f"lockbuild: {ctx.installer.kind} cache for this set of build pins: {cache}")
    build_path = str(ctx.pair.build_path.resolve())
    if ctx.pair.build_path.suffix == ".toml":
        # A pylock build file: pip and uv take build constraints only as requirements text.
        text_copy = scratch / "pylock-build-constraints.txt"
        text_copy.write_text(requirements_text(build.pins.values()), encoding="utf-8")
        build_path = str(text_copy)
    route = ctx.installer.route
    if route in ("--build-constraint", "--build-constraints"):
        argv += [route, build_path]
        if (
            installer_builds
            and ctx.installer.kind == "uv"
            and any(pin.hashes for pin in build.pins.values())
        ):
            # Measured with uv 0.13.9: a wrong hash in --build-constraints is not noticed.
            ctx.err(
                "lockbuild: warning: uv does not check the hashes in --build-constraints; "
                "build dependencies are pinned but not hash-checked"
            )
        return argv, env
    # Old pip: PIP_CONSTRAINT reaches the isolated build environments. It is split on
    # whitespace and cannot carry hashes there, so pass a plain copy when needed.
    ours = Path(build_path)
    hashed = any(pin.hashes for pin in build.pins.values())
    if hashed or any(ch.isspace() for ch in build_path):
        ours = hash_free_copy(build, scratch / "build-constraints.txt")
    if hashed and installer_builds:
        ctx.err(
            f"lockbuild: warning: build dependencies are not hash-checked with "
            f"{ctx.installer.label} (older than {PIP_BUILD_CONSTRAINT}): their pins reach "
            "the build environments through PIP_CONSTRAINT, which cannot carry hashes"
        )
    existing = os.environ.get("PIP_CONSTRAINT")
    config = [] if existing and existing.strip() else pip_config_constraints(ctx.installer)
    env["PIP_CONSTRAINT"] = constraint_env_value(ours, existing, config)
    if ctx.options.verbose:
        ctx.err(f"lockbuild: PIP_CONSTRAINT={env['PIP_CONSTRAINT']}")
    return argv, env


def _show_tail(err: Log, lines: Sequence[str], title: str) -> None:
    err(f"--- {title} (last lines) ---")
    for line in _tail(lines):
        err(f"  {line}")
    err("---")


def _install_failed(ctx: _Context, result: RunResult) -> None:
    log_path = _keep_log(result)
    installer = ctx.installer.kind
    left = f"nothing was uninstalled; {ctx.env.prefix} is left as {installer} left it"
    failed = failed_builds(result.output, ctx.pair.lock.pins)
    if not ctx.options.verbose:
        _show_tail(ctx.err, result.output, f"{installer} output")
    if failed:
        name = failed[0]
        pin = ctx.pair.lock.pins[name]
        deps = build_dependencies(ctx.pair.build, name)
        given = ", ".join(f"{d.name}=={d.version}" for d in deps) if deps else "none pinned for it"
        others = f" (also failed: {', '.join(failed[1:])})" if len(failed) > 1 else ""
        raise BuildError(
            f"building {name} {pin.version} from its sdist failed{others}; build "
            f"dependencies given ({ctx.installer.route} "
            f"{display_path(ctx.pair.build_path)}): {given}; {left}; "
            f"full log: {log_path}"
        )
    raise InstallError(
        f"{ctx.installer.label} failed (exit {result.returncode}): "
        f"{_last_error(result.output)}; {left}; full log: {log_path}"
    )
