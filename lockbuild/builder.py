"""Building the lock's sdists into the wheelhouse, each against exactly its locked pins.

A build gets a fresh venv of the target's interpreter holding only its build pins
(installed ``--no-deps`` and ``--only-binary :all:``, hash-checked when the build file has
hashes; build pins that are sdists themselves come from the wheelhouse, built first),
reads that environment back, runs the backend's ``build_wheel`` hook (bounded in time, in
its own process group) and adds the provenance record to the wheel. Wheels are kept under
``<cache>/wheelhouse/<sdist sha256>/<python>/<build env digest>/``, so any later sync into
any venv of the same interpreter kind reuses them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from . import limits
from .archive import extract_archive
from .buildsystem import build_system
from .cache import Cache
from .errors import BuildError, LockbuildError
from .fetcher import Sources
from .index import IndexClient
from .lockfile import SDIST, LockedFile, LockedPin
from .provenance import BuildRecord, add_record, env_digest, normalized_pins, read_wheel_record
from .spec import IndexOptions

Log = Callable[[str], None]

_READ_BACK = (
    "import importlib.metadata as m\n"
    "for d in m.distributions():\n"
    "    n = d.metadata['Name']\n"
    "    if n: print(n, d.version)\n"
)


class SdistBuildError(BuildError):
    """A build of one sdist failed; ``log`` holds its whole output."""

    def __init__(self, text: str, log: Path) -> None:
        super().__init__(f"{text}; full log: {log}")
        self.text = text
        self.log = log


@dataclass(frozen=True)
class SdistPin:
    """A pin the lock builds from an index's sdist on its target (a ``lockbuild-sdist``
    header line: ``name==version filename sha256:hex``)."""

    name: NormalizedName
    version: str
    filename: str
    sha256: str | None = None


def parse_sdist_line(text: str) -> SdistPin | None:
    words = text.split()
    if len(words) not in (2, 3) or "==" not in words[0]:
        return None
    name, _, version = words[0].partition("==")
    digest = None
    if len(words) == 3:
        if not words[2].startswith("sha256:") or len(words[2]) != 71:
            return None
        digest = words[2].removeprefix("sha256:").lower()
    if not name or not version or "/" in words[1]:
        return None
    return SdistPin(canonicalize_name(name), version, words[1], digest)


def sdist_pins(*files: LockedFile) -> dict[NormalizedName, SdistPin]:
    """Every pin the pair builds from source, read from both files' headers."""
    found: dict[NormalizedName, SdistPin] = {}
    for locked in files:
        for line in locked.meta.get(SDIST, []):
            pin = parse_sdist_line(line)
            if pin is not None:
                found.setdefault(pin.name, pin)
    return found


@dataclass(frozen=True)
class BuildJob:
    sdist: SdistPin
    pins: tuple[LockedPin, ...]  # what goes into its build environment
    hashes: tuple[str, ...] = ()  # allowed sha256 of the sdist (from the lock's --hash)

    @property
    def environment(self) -> tuple[str, ...]:
        return normalized_pins((p.name, p.version) for p in self.pins)

    @property
    def digest(self) -> str:
        return env_digest(self.environment)

    @property
    def label(self) -> str:
        return f"{self.sdist.name} {self.sdist.version}"


@dataclass(frozen=True)
class BuildResult:
    job: BuildJob
    wheel: Path
    record: BuildRecord
    reused: bool
    log: Path | None = None

    def describe(self) -> str:
        verb = "reused" if self.reused else "built"
        return f"{verb} {self.job.label} against {self.record.against()}"


def plan_jobs(
    names: Iterable[NormalizedName],
    sdists: Mapping[NormalizedName, SdistPin],
    environment: Callable[[NormalizedName], Sequence[LockedPin]],
    hashes: Callable[[NormalizedName], tuple[str, ...]],
) -> dict[NormalizedName, BuildJob]:
    """The jobs for ``names`` and, first, for every sdist their build environments need."""
    jobs: dict[NormalizedName, BuildJob] = {}
    visiting: list[NormalizedName] = []

    def visit(name: NormalizedName) -> None:
        if name in jobs:
            return
        if name in visiting:
            chain = " -> ".join([*visiting[visiting.index(name) :], name])
            raise BuildError(f"cannot build: the build environments form a cycle: {chain}")
        visiting.append(name)
        pins = tuple(environment(name))
        for pin in pins:
            if pin.name in sdists:
                visit(pin.name)
        visiting.pop()
        jobs[name] = BuildJob(sdists[name], pins, hashes(name))

    for name in names:
        visit(name)
    return jobs


@dataclass(frozen=True)
class BuildSettings:
    python: str  # the interpreter build environments are made from (the target's)
    python_key: str  # its kind (implementation, version, platform): part of the key
    wheelhouse: Path
    cache: Cache
    index: IndexOptions
    jobs: int = 2
    verbose: bool = False
    extra_env: tuple[tuple[str, str], ...] = field(default=())
    markers: tuple[tuple[str, str], ...] = ()  # the target's, for the backend's requirements


def slot_path(wheelhouse: Path, sdist_sha256: str | None, python: str, digest: str) -> Path:
    """Where the wheels of one sdist built against one environment on one kind of
    interpreter are kept."""
    sha = sdist_sha256 or "unknown"
    return wheelhouse / sha / python / digest.removeprefix("sha256:")[:32]


_MARKERS = (
    "import json, platform, sys; print(json.dumps({"
    "'implementation_name': sys.implementation.name,"
    "'python_version': '.'.join(platform.python_version_tuple()[:2]),"
    "'sys_platform': sys.platform, 'platform_machine': platform.machine()}))"
)


def interpreter_key(python: str) -> str | None:
    """The key of an interpreter (where compile's hook built a wheel), asked of it."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _MARKERS], capture_output=True, text=True, timeout=60
        )
        data = json.loads(proc.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if proc.returncode != 0 or not isinstance(data, dict):
        return None
    return python_key({str(k): str(v) for k, v in data.items()})


def keep_metadata_wheel(
    wheelhouse: Path,
    sdist: str,
    sdist_sha256: str,
    wheel: Path,
    pins: Iterable[str],
    python: str,
) -> Path | None:
    """Put a wheel that compile built to read an sdist's metadata (a backend without
    prepare_metadata_for_build_wheel) into the wheelhouse with its record, so that sync
    reuses it when the lock prescribes the same build environment. ``pins`` is what was
    read back from the hook's environment, ``python`` its interpreter. None when the wheel
    is not one of ``sdist``, or the interpreter cannot say what it is."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return None
    environment = normalized_pins((p.partition("==")[0], p.partition("==")[2]) for p in pins)
    key = interpreter_key(python)
    if key is None:
        return None
    record = BuildRecord(
        name=name,
        version=str(version),
        sdist=sdist,
        sdist_sha256=sdist_sha256,
        environment=environment,
        python=key,
    )
    try:
        return add_record(wheel, record, slot_path(wheelhouse, sdist_sha256, key, record.digest))
    except (BuildError, OSError):
        return None  # the cache is an optimisation: sync builds it again


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def python_key(markers: Mapping[str, str]) -> str:
    parts = (
        markers.get("implementation_name", "python"),
        markers.get("python_version", "?"),
        markers.get("sys_platform", "?"),
        markers.get("platform_machine", "?"),
    )
    return "-".join(p.replace("/", "_") for p in parts)


class Builder:
    """Builds jobs into the wheelhouse (or finds them there) in build-dependency order."""

    def __init__(self, settings: BuildSettings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self._client: IndexClient | None = None
        self._client_lock = threading.Lock()

    def slot(self, job: BuildJob) -> Path:
        return slot_path(
            self.settings.wheelhouse, job.sdist.sha256, self.settings.python_key, job.digest
        )

    def find(self, job: BuildJob) -> BuildResult | None:
        """A wheel of this job already in the wheelhouse, or in a local --find-links
        directory (one ``lockbuild wheelhouse`` wrote), with a matching record."""
        if job.sdist.sha256 is None:
            return None
        slot = self.slot(job)
        candidates = sorted(slot.glob("*.whl")) if slot.is_dir() else []
        prefix = f"{job.sdist.name.replace('-', '_')}-{job.sdist.version}-"
        for link in self.settings.index.find_links:
            path = (
                Path(link.removeprefix("file://"))
                if "://" not in link or link.startswith("file://")
                else None
            )
            if path is not None and path.is_dir():
                candidates += sorted(
                    p for p in path.glob("*.whl") if p.name.lower().startswith(prefix.lower())
                )
        for wheel in candidates:
            record = read_wheel_record(wheel)
            if (
                record is not None
                and record.digest == job.digest
                and record.sdist_sha256 == job.sdist.sha256
                and record.python == self.settings.python_key
            ):
                return BuildResult(job, wheel, record, reused=True)
        return None

    def run(self, jobs: Mapping[NormalizedName, BuildJob]) -> dict[NormalizedName, BuildResult]:
        """Every job, each once its build environment's own sdists are built; independent
        jobs in parallel. The first failure is raised once running builds finished."""
        done: dict[NormalizedName, BuildResult] = {}
        pending = dict(jobs)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.settings.jobs)) as pool:
                while pending:
                    ready = [
                        name
                        for name, job in pending.items()
                        if all(p.name in done for p in job.pins if p.name in jobs)
                    ]
                    if not ready:  # plan_jobs refuses cycles; this is a safety net
                        raise BuildError(f"cannot order the builds of {', '.join(pending)}")
                    futures = {n: pool.submit(self.one, pending[n], done) for n in ready}
                    failure: LockbuildError | None = None
                    for name, future in futures.items():
                        try:
                            done[name] = future.result()
                        except LockbuildError as exc:
                            failure = failure or exc
                        del pending[name]
                    if failure is not None:
                        raise failure
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None
        return done

    def one(self, job: BuildJob, built: Mapping[NormalizedName, BuildResult]) -> BuildResult:
        found = self.find(job)
        if found is not None:
            return found
        self.log(f"lockbuild: building {job.label} against {' '.join(job.environment)}")
        with tempfile.TemporaryDirectory(prefix="lockbuild-build-") as tmp:
            return self._build(job, built, Path(tmp))

    # --- the steps of one build ---------------------------------------------------------
    def _build(
        self, job: BuildJob, built: Mapping[NormalizedName, BuildResult], tmp: Path
    ) -> BuildResult:
        logs = self.settings.wheelhouse / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stem = f"{job.sdist.name}-{job.sdist.version}-{job.digest.removeprefix('sha256:')[:12]}"
        log_path = logs / f"{stem}.log"
        with log_path.open("w", encoding="utf-8", errors="replace") as log:
            log.write(f"# building {job.label} against {' '.join(job.environment)}\n")
            try:
                data = self._sdist_bytes(job)
                sha = hashlib.sha256(data).hexdigest()
                job = job if job.sdist.sha256 else _with_sha(job, sha)
                python = self._make_env(job, built, tmp / "env", log)
                environment = self._read_back(python, job)
                src = extract_archive(data, job.sdist.filename, tmp / "src")
                wheel = self._build_wheel(job, src, python, tmp / "out", log, environment)
            except LockbuildError as exc:
                log.write(f"# failed: {exc.message}\n")
                raise SdistBuildError(
                    f"building {job.label} from {job.sdist.filename} failed: {exc.message}; "
                    f"build pins: {' '.join(job.environment) or 'none'}",
                    log_path,
                ) from None
        record = BuildRecord(
            name=job.sdist.name,
            version=job.sdist.version,
            sdist=job.sdist.filename,
            sdist_sha256=sha,
            environment=environment,
            python=self.settings.python_key,
        )
        final = add_record(wheel, record, self.slot(job))
        return BuildResult(job, final, record, reused=False, log=log_path)

    def _sdist_bytes(self, job: BuildJob) -> bytes:
        """The sdist, from the cache by sha256 or from the lock's index, checked against
        the header's sha256 and the lock's hashes."""
        sdist = job.sdist
        data = self.settings.cache.get_blob("files", sdist.sha256) if sdist.sha256 else None
        if data is None:
            with self._client_lock:
                if self._client is None:
                    self._client = IndexClient(
                        Sources.from_options(self.settings.index), self.settings.cache
                    )
                client = self._client
            files = [
                f
                for f in client.files(sdist.name)
                if f.filename == sdist.filename and not f.is_wheel
            ]
            if sdist.sha256:
                files = [f for f in files if f.sha256 in (None, sdist.sha256)] or files
            if not files:
                raise BuildError(f"{sdist.filename} is not on the lock's index")
            data = client.download(files[0])
        digest = hashlib.sha256(data).hexdigest()
        if sdist.sha256 and digest != sdist.sha256:
            raise BuildError(
                f"{sdist.filename}: sha256 {digest} is not the one the lock records "
                f"({sdist.sha256})"
            )
        if job.hashes and digest not in job.hashes:
            raise BuildError(f"{sdist.filename}: sha256 {digest} matches none of the lock's hashes")
        return data

    def _make_env(
        self, job: BuildJob, built: Mapping[NormalizedName, BuildResult], root: Path, log: TextIO
    ) -> str:
        _run([self.settings.python, "-m", "venv", "--without-pip", str(root)], log, 300)
        python = str(root / "bin" / "python")
        ours = [built[p.name].wheel for p in job.pins if p.name in built]
        others = [p for p in job.pins if p.name not in built]
        pip, run_env = _installer(python)
        if ours:
            _run([*pip, "--no-index", *map(str, ours)], log, 600, env=run_env)
        if others:
            hashed = any(p.hashes for p in job.pins if p.name not in built)
            req = root / "build-requirements.txt"
            lines = []
            for pin in others:
                if hashed and not pin.hashes:
                    raise BuildError(f"{pin.name}=={pin.version} has no --hash in the build file")
                lines.append(
                    " ".join(
                        [f"{pin.name}=={pin.version}", *(f"--hash=sha256:{h}" for h in pin.hashes)]
                    )
                )
            req.write_text("\n".join(lines) + "\n", encoding="utf-8")
            argv = [*pip, "--only-binary", ":all:", *location_args(self.settings.index)]
            if hashed:
                argv.append("--require-hashes")
            _run([*argv, "-r", str(req)], log, 1800, env=run_env)
        return python

    def _read_back(self, python: str, job: BuildJob) -> tuple[str, ...]:
        proc = subprocess.run(
            [python, "-I", "-c", _READ_BACK], capture_output=True, text=True, timeout=120
        )
        pairs = [tuple(line.split(" ", 1)) for line in proc.stdout.splitlines() if " " in line]
        found = normalized_pins((n, v) for n, v in pairs)
        if proc.returncode != 0 or found != job.environment:
            raise BuildError(
                f"its build environment holds {' '.join(found) or 'nothing'}, "
                f"not the locked {' '.join(job.environment) or 'nothing'}"
            )
        return found

    def _check_asked(self, job: BuildJob, asked: object, environment: Sequence[str]) -> None:
        """What get_requires_for_build_wheel returns must already be in the build
        environment: nothing the build file does not pin is ever fetched for a build."""
        if not isinstance(asked, list) or not all(isinstance(r, str) for r in asked):
            raise BuildError(f"get_requires_for_build_wheel returned {asked!r:.80}, not a list")
        have = dict(p.partition("==")[::2] for p in environment)
        markers = {**dict(self.settings.markers), "extra": ""}
        for text in asked:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                raise BuildError(f"its backend asks for {text!r}, not a requirement") from None
            if req.marker is not None and not req.marker.evaluate(markers):
                continue
            version = have.get(canonicalize_name(req.name))
            if version is None or not req.specifier.contains(version, prereleases=True):
                raise BuildError(
                    f"its backend asks for {text}, which its locked build environment does "
                    f"not satisfy; recompile the lock"
                )

    def _build_wheel(
        self,
        job: BuildJob,
        src: Path,
        python: str,
        out: Path,
        log: TextIO,
        environment: Sequence[str],
    ) -> Path:
        from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller, HookMissing

        pyproject = src / "pyproject.toml"
        system = build_system(
            pyproject.read_bytes() if pyproject.is_file() else None, job.sdist.filename
        )
        out.mkdir(parents=True, exist_ok=True)
        deadline = limits.build_timeout()
        env = _backend_env(python)
        env.update(dict(self.settings.extra_env))

        def runner(
            cmd: Sequence[str],
            cwd: str | None = None,
            extra_environ: Mapping[str, str] | None = None,
        ) -> None:
            _run(list(cmd), log, deadline, cwd=cwd, env={**env, **(extra_environ or {})})

        caller = BuildBackendHookCaller(
            str(src),
            system.backend,
            backend_path=list(system.backend_path) or None,
            runner=runner,
            python_executable=python,
        )
        try:
            asked = caller.get_requires_for_build_wheel({})
            self._check_asked(job, asked, environment)
            name = caller.build_wheel(str(out), {})
        except BackendUnavailable as exc:
            raise BuildError(f"build backend {system.backend!r} is unavailable: {exc}") from None
        except HookMissing as exc:
            raise BuildError(f"build backend lacks hook {exc}") from None
        wheel = out / str(name)
        if not isinstance(name, str) or "/" in name or os.sep in name or not wheel.is_file():
            raise BuildError(f"build_wheel returned {name!r}, not a wheel it wrote")
        try:
            wname, wversion, _, _ = parse_wheel_filename(name)
        except InvalidWheelFilename:
            raise BuildError(f"build_wheel wrote {name!r}, not a valid wheel name") from None
        if wname != job.sdist.name or wversion != Version(job.sdist.version):
            raise BuildError(f"build_wheel wrote {name}, not a wheel of {job.label}")
        return wheel


def _installer(python: str) -> tuple[list[str], dict[str, str]]:
    """How build environments are filled: the pip beside lockbuild (``--python``), or,
    where lockbuild has no pip (installed by ``uv tool``), uv; always ``--no-deps``."""
    env = dict(os.environ)
    if importlib.util.find_spec("pip") is not None:
        head = [sys.executable, "-m", "pip", "--python", python, "install"]
        head += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location"]
        return [*head, "--no-deps"], env
    beside = Path(sys.executable).with_name("uv")
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv is None:
        raise BuildError(
            f"no installer to fill build environments: {sys.executable} has no pip and "
            "no uv was found; install pip or uv beside lockbuild"
        )
    env["UV_INDEX_STRATEGY"] = "unsafe-best-match"  # look where pip would: every index
    return [uv, "pip", "install", "--python", python, "--no-deps"], env


def _with_sha(job: BuildJob, sha: str) -> BuildJob:
    sdist = SdistPin(job.sdist.name, job.sdist.version, job.sdist.filename, sha)
    return BuildJob(sdist, job.pins, job.hashes)


def location_args(options: IndexOptions) -> list[str]:
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
    return args


def _backend_env(python: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    bindir = str(Path(python).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(python).parent.parent)
    return env


def _run(
    argv: Sequence[str],
    log: TextIO,
    timeout: float,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a step of a build with its output in the log, in its own process group, which
    is killed when the step outlives ``timeout`` seconds."""
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log.fileno(),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise BuildError(f"cannot run {argv[0]}: {exc}") from None
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise BuildError(f"{Path(argv[0]).name} did not finish within {timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    if code != 0:
        what = "the build backend" if "_in_process" in " ".join(argv) else Path(argv[0]).name
        step = " ".join(argv[1:4])
        raise BuildError(f"{what} failed (exit {code}) running {step}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()
