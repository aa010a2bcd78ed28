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
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
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

from lockbuild import limits
from lockbuild.build.environments import venv_environ
from lockbuild.build.hooks import backend_caller
from lockbuild.build.probe import installed_pins
from lockbuild.build.provenance import (
    BuildRecord,
    add_record,
    file_sha256,
    read_wheel_record,
    slot_path,
    verify_wheel,
)
from lockbuild.build.uv import uv_binary
from lockbuild.dists.archive import extract_archive
from lockbuild.dists.buildsystem import build_system
from lockbuild.errors import BuildError, LockbuildError
from lockbuild.index.cache import Cache
from lockbuild.index.client import IndexClient
from lockbuild.index.fetcher import Sources
from lockbuild.indexopts import IndexOptions, pip_inputs, uv_inputs
from lockbuild.process import ProcessTimeout, run_bounded, settled
from lockbuild.spec import display_path
from lockbuild.sync.buildjob import BuildJob, BuildResult, with_sha256

Log = Callable[[str], None]


class SdistBuildError(BuildError):
    """A build of one sdist failed; ``log`` holds its whole output."""

    def __init__(self, text: str, log: Path) -> None:
        super().__init__(f"{text}; full log: {log}")
        self.text = text
        self.log = log


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
    recompile: str = "lockbuild compile"  # the lock's compile command, named in a fix


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


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
                # Verified, not trusted: a wheel of the wheelhouse must still be the file
                # lockbuild wrote and agree with its own RECORD (a --find-links directory
                # has no recorded digests; the -wheels.txt beside it has its hashes).
                sha, problem = verify_wheel(wheel, recorded=wheel.parent == slot)
                if problem:
                    self.log(
                        f"lockbuild: note: {display_path(wheel)} {problem}; "
                        f"building {job.label} again"
                    )
                    continue
                return BuildResult(job, wheel, record, reused=True, sha256=sha)
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
                            done[name] = settled(future)
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
                job = job if job.sdist.sha256 else with_sha256(job, sha)
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
        sha = file_sha256(final)
        return BuildResult(job, final, record, reused=False, log=log_path, sha256=sha)

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
        pip, index_words, run_env = _installer(python, self.settings.index)
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
            argv = [*pip, "--only-binary", ":all:", *index_words]
            if hashed:
                argv.append("--require-hashes")
            _run([*argv, "-r", str(req)], log, 1800, env=run_env)
        return python

    def _read_back(self, python: str, job: BuildJob) -> tuple[str, ...]:
        found = installed_pins(python)
        if found != job.environment:
            raise BuildError(
                f"its build environment holds {' '.join(found or ()) or 'nothing'}, "
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
                    f"not satisfy; recompile the lock: {self.settings.recompile}"
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
        from pyproject_hooks import BackendUnavailable, HookMissing  # start-up speed (~50 ms)

        pyproject = src / "pyproject.toml"
        system = build_system(
            pyproject.read_bytes() if pyproject.is_file() else None, job.sdist.filename
        )
        out.mkdir(parents=True, exist_ok=True)
        deadline = limits.build_timeout()
        env = venv_environ(python)
        env.update(dict(self.settings.extra_env))

        def run(cmd: Sequence[str], cwd: str | None, extra: Mapping[str, str]) -> None:
            _run(list(cmd), log, deadline, cwd=cwd, env={**env, **extra})

        caller = backend_caller(src, system, python, run)
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


def _installer(python: str, index: IndexOptions) -> tuple[list[str], list[str], dict[str, str]]:
    """How build environments are filled: the pip beside lockbuild (``--python``), or,
    where lockbuild has no pip (installed by ``uv tool``), uv; always ``--no-deps``.
    Returns the command, the words that say where to look (the lock's index options,
    without the format options: build environments take wheels only) and the environment."""
    env = dict(os.environ)
    if importlib.util.find_spec("pip") is not None:
        head = [sys.executable, "-m", "pip", "--python", python, "install"]
        head += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location"]
        return [*head, "--no-deps"], list(pip_inputs(index, formats=False).argv), env
    uv = uv_binary()
    if uv is None:
        raise BuildError(
            f"no installer to fill build environments: {sys.executable} has no pip and "
            "no uv was found; install pip or uv beside lockbuild"
        )
    words = list(uv_inputs(index, formats=False).argv)
    return [uv, "pip", "install", "--python", python, "--no-deps"], words, env


def _run(
    argv: Sequence[str],
    log: TextIO,
    timeout: float,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a step of a build with its output in the log, bounded (process.run_bounded:
    its own process group, killed when the step outlives ``timeout`` seconds)."""
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    try:
        code = run_bounded(argv, cwd=cwd, env=env, log=log.fileno(), timeout=timeout)
    except OSError as exc:
        raise BuildError(f"cannot run {argv[0]}: {exc}") from None
    except ProcessTimeout:
        raise BuildError(f"{Path(argv[0]).name} did not finish within {timeout:g} s") from None
    if code != 0:
        what = "the build backend" if "_in_process" in " ".join(argv) else Path(argv[0]).name
        step = " ".join(argv[1:4])
        raise BuildError(f"{what} failed (exit {code}) running {step}")
