"""Isolated build environments: a venv filled by pip or uv with a requirement set
(bound by constraints and an upload cutoff), and the pool that shares them in a run.

An environment is a pypa ``build`` ``IsolatedEnv`` (its two members: the interpreter,
``python_executable``, and the variables a hook runs with, ``make_extra_environ``); what
fills it is one of two strategies, uv (when it is at hand: several times faster) or pip,
chosen as LOCKBUILD_HOOK_INSTALLER says."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import threading
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from packaging.version import Version

from lockbuild import limits
from lockbuild.build.hookfail import NO_WHEEL, HookFailed, LogKeeper, failed_to_build, last_line
from lockbuild.build.hookserver import HookServer
from lockbuild.build.probe import installed_pins, tool_version
from lockbuild.build.uv import uv_binary
from lockbuild.errors import BuildError, UsageError
from lockbuild.indexopts import IndexOptions, pip_inputs, uv_inputs
from lockbuild.pool import DaemonPool
from lockbuild.process import ProcessTimeout, run_bounded, run_captured
from lockbuild.spec import listed


@dataclass(frozen=True)
class EnvKey:
    """What shapes an isolated environment (environments are shared by this key)."""

    requirements: tuple[str, ...]
    no_deps: bool
    constraints: tuple[str, ...]
    uploaded_before: datetime | None

    @classmethod
    def of(
        cls,
        requirements: Sequence[str],
        constraints: Sequence[str],
        no_deps: bool,
        uploaded_before: datetime | None,
    ) -> EnvKey:
        return cls(
            tuple(sorted(set(requirements))),
            no_deps,
            tuple(sorted(set(constraints))),
            uploaded_before,
        )


class IsolatedEnvironment:
    """A fresh virtual environment holding exactly the requirements given, never the
    user's environment; removed when the context ends. ``index`` is where its installer
    looks (its URLs go in variables, never on a command line, where a token would show);
    hooks see them as PIP_* variables too (a setup_requires fetched by the backend)."""

    def __init__(
        self,
        index: IndexOptions,
        *,
        base_python: str | None = None,
        logs: LogKeeper | None = None,
    ) -> None:
        self.index = index
        self.pip_env = dict(pip_inputs(index, formats=False, hide_urls=True).env)
        self.base_python = base_python
        self.logs = logs if logs is not None else LogKeeper()
        self._pins: tuple[str, ...] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.python = ""
        self._servers: dict[str, HookServer | None] = {}
        self._servers_lock = threading.Lock()

    def __enter__(self) -> IsolatedEnvironment:
        self._tmp = tempfile.TemporaryDirectory(prefix="lockbuild-env-")
        root = Path(self._tmp.name)
        if self.base_python is None:
            venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
        else:
            # The target's own interpreter (--python): hooks then answer for it.
            try:
                proc = run_captured(
                    [self.base_python, "-m", "venv", "--without-pip", str(root)],
                    timeout=limits.hook_timeout(),
                )
                failure = None if proc.returncode == 0 else last_line(proc.stderr or proc.stdout)
            except (OSError, ProcessTimeout) as exc:
                failure = str(exc)
            if failure is not None:
                self._tmp.cleanup()
                raise BuildError(
                    f"{self.base_python}: cannot make a virtual environment: {failure}"
                )
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = str(root / bindir / ("python.exe" if os.name == "nt" else "python"))
        return self

    def __exit__(self, *exc: object) -> None:
        with self._servers_lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            if server is not None:
                server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def hook_server(self, backend: str) -> HookServer | None:
        """The fork server for ``backend`` here (started on first use); None where fork
        is not available or the backend does not import."""
        if not hasattr(os, "fork") or sys.platform == "darwin":
            return None
        with self._servers_lock:
            if backend not in self._servers:
                server = HookServer(self, backend)
                self._servers[backend] = server if server.ready() else None
            return self._servers[backend]

    @property
    def python_executable(self) -> str:
        """The environment's interpreter (``IsolatedEnv``)."""
        return self.python

    def make_extra_environ(self) -> dict[str, str]:
        """What a hook's process adds to lockbuild's environment (``IsolatedEnv``): the
        index options as PIP_* variables, and the venv first on PATH and as VIRTUAL_ENV."""
        return {**self.pip_env, **_venv_vars(self.python)}

    def environ(self) -> dict[str, str]:
        """The whole environment a hook or an installer runs with here."""
        return venv_environ(self.python, self.pip_env)

    def install(self, key: EnvKey, what: str) -> None:
        """Install ``key.requirements``; its constraints bind them and also any build
        environment the installer makes on the way (for build requirements that are
        themselves sdists); ``uploaded_before`` admits only files uploaded by then."""
        if not key.requirements:
            return
        uv = hook_uv()
        strategy: _Strategy = _UvStrategy(uv) if uv is not None else _PipStrategy()
        with tempfile.TemporaryDirectory(prefix="lockbuild-req-") as tmp:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text("\n".join(key.requirements) + "\n")
            constraint_file = Path(tmp) / "build-constraints.txt"
            constraint_file.write_text("\n".join(key.constraints) + "\n")
            cmd, env = strategy.command(self, key, constraint_file)
            if key.constraints:
                cmd += ["-c", str(constraint_file)]
            # Bounded like a hook (an index that stalls must not hold compile): in its own
            # process group, killed after LOCKBUILD_HOOK_TIMEOUT, output to a file.
            out = Path(tmp) / "install.log"
            hook = f"installing build requirements {listed(key.requirements)}"
            try:
                code = run_bounded([*cmd, "-r", str(req_file)], cwd=None, env=env, log=out)
            except ProcessTimeout as exc:
                log = self.logs.keep(what, "install", f"$ {' '.join(cmd)}\n{_read(out)}")
                raise HookFailed(what, hook, str(exc), log) from None
            output = _read(out)
        if code != 0:
            log = self.logs.keep(what, "install", f"$ {' '.join(cmd)}\n{output}")
            cause = failed_to_build(output, (*key.requirements, *key.constraints))
            if cause is None:
                raise HookFailed(what, hook, f"failed: {last_line(output)}", log)
            reason = f"failed: {cause} {NO_WHEEL} {self.describe()} and failed to build"
            raise HookFailed(what, hook, reason, log, cause=cause)

    def describe(self) -> str:
        """``cpython 3.11``: the interpreter the environment runs (for messages)."""
        code = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
        try:
            found = run_captured([self.python, "-c", code], timeout=60)
        except (OSError, ProcessTimeout):
            return "this Python"
        return found.stdout.strip() or "this Python"

    def pins(self) -> tuple[str, ...]:
        """``name==version`` of everything installed here, sorted (asked once)."""
        if self._pins is None:
            self._pins = tuple(sorted(set(installed_pins(self.python) or ())))
        return self._pins


class _Strategy(Protocol):
    """How an isolated environment is filled: the install command (before ``-c`` and
    ``-r``) and the environment it runs with."""

    def command(
        self, env: IsolatedEnvironment, key: EnvKey, constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]: ...


class _PipStrategy:
    """The pip beside lockbuild, pointed at the environment with ``--python``."""

    def command(
        self, env: IsolatedEnvironment, key: EnvKey, constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "pip", "--python", env.python, "install"]
        cmd += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location", "-q"]
        if key.no_deps:
            cmd.append("--no-deps")
        environ = env.environ()
        if key.constraints:
            if _pip_version() >= (25, 3):
                cmd += ["--build-constraint", str(constraint_file)]
            else:
                environ["PIP_CONSTRAINT"] = " ".join(
                    p for p in (environ.get("PIP_CONSTRAINT"), str(constraint_file)) if p
                )
        if key.uploaded_before is not None:
            check_cutoff_support()
            # pip admits uploads strictly before the time given.
            later = key.uploaded_before + timedelta(seconds=1)
            cmd += ["--uploaded-prior-to", _rfc3339(later)]
        return cmd, environ


class _UvStrategy:
    """The same install through uv, told the lock's index strategy (so that it looks
    where the resolution looked)."""

    def __init__(self, uv: str) -> None:
        self.uv = uv

    def command(
        self, env: IsolatedEnvironment, key: EnvKey, constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        cmd = [self.uv, "pip", "install", "--python", env.python, "--quiet"]
        if key.no_deps:
            cmd.append("--no-deps")
        if key.constraints:
            cmd += ["--build-constraints", str(constraint_file)]
        index = uv_inputs(env.index, formats=False, hide_urls=True)
        cmd += index.argv
        environ = {k: v for k, v in env.environ().items() if not k.startswith("UV_INDEX")}
        environ.update(index.env)
        environ["UV_NO_CONFIG"] = "1"
        if key.uploaded_before is not None:
            cmd += ["--exclude-newer", _rfc3339(key.uploaded_before)]
        return cmd, environ


def _venv_vars(python: str) -> dict[str, str]:
    bindir = Path(python).parent
    return {
        "PATH": str(bindir) + os.pathsep + os.environ.get("PATH", ""),
        "VIRTUAL_ENV": str(bindir.parent),
    }


def venv_environ(python: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a process runs with inside the venv of ``python`` (a hook's, a
    build's): lockbuild's own with ``extra`` over it, the venv first on PATH and as
    VIRTUAL_ENV, and nothing that would reach outside it (PYTHONPATH, PYTHONHOME,
    PIP_REQUIRE_VIRTUALENV)."""
    env = dict(os.environ)
    env.update(extra or {})
    env.update(_venv_vars(python))
    for name in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    return env


def hook_uv() -> str | None:
    """uv, when it is at hand (beside this Python, or on PATH), to fill hook environments;
    LOCKBUILD_HOOK_INSTALLER=pip keeps pip, =uv insists on uv."""
    chosen = limits.hook_installer()
    if chosen == "pip":
        return None
    found = uv_binary()
    if found is None and chosen == "uv":
        raise UsageError("LOCKBUILD_HOOK_INSTALLER=uv: uv is neither beside lockbuild nor on PATH")
    return found


# The first pip that has --uploaded-prior-to (the --build-deps-as-of-release cutoff).
PIP_UPLOADED_PRIOR_TO = Version("26.0")


@functools.cache
def _pip() -> Version | None:
    """The version of the pip that fills hook environments (``python -m pip`` beside
    lockbuild), as that pip's own ``--version`` says; None when there is none."""
    return tool_version((sys.executable, "-m", "pip"), r"^pip (\S+)")


def _pip_version() -> tuple[int, ...]:
    found = _pip()
    return found.release[:2] if found is not None else (0,)


def check_cutoff_support() -> None:
    """--build-deps-as-of-release through pip needs pip's --uploaded-prior-to; an older
    pip has nothing equivalent, so the cutoff cannot be applied: a one-line error."""
    if hook_uv() is not None:
        return
    found = _pip()
    if found is not None and found >= PIP_UPLOADED_PRIOR_TO:
        return
    have = f"pip {found}" if found is not None else "no pip"
    raise UsageError(
        f"--build-deps-as-of-release: hook environments are filled by pip here ({have}), "
        f"which has no --uploaded-prior-to (pip {PIP_UPLOADED_PRIOR_TO} and later): "
        "upgrade pip or install uv"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FailureMemo(Protocol):
    """Where failed environments are remembered across runs (the cache), by a key that
    names everything that shaped them."""

    def recall(self, key: str) -> tuple[str, str] | None:
        """(hook, reason) of an environment that failed before, or None."""
        ...

    def remember(self, key: str, hook: str, reason: str) -> None: ...


def memo_key(key: EnvKey, index: IndexOptions, base_python: str | None) -> str:
    """What shapes an environment, as one string (hashed by the memo with the target)."""
    return json.dumps(
        [
            list(key.requirements),
            list(key.constraints),
            key.no_deps,
            key.uploaded_before.isoformat() if key.uploaded_before else None,
            repr(index),  # where the installer looks (hashed with the rest, never stored)
            base_python,
        ]
    )


class EnvironmentPool:
    """Isolated environments shared by every hook that needs the same requirement set,
    constraints and upload cutoff: each is created and populated once per run; ``close``
    removes them all. ``base_python`` is the interpreter they are made from (None: the
    one running lockbuild)."""

    def __init__(
        self,
        index: IndexOptions,
        *,
        base_python: str | None = None,
        memo: FailureMemo | None = None,
    ) -> None:
        self.index = index
        self.base_python = base_python
        # With --build-deps-as-of-release: environments that failed to build a requirement
        # fail the same way every time (what the index held before a cut-off, or an exact
        # pin's files, do not change): remembered, so a rerun says so in seconds.
        self.memo = memo
        self.logs = LogKeeper()
        self._lock = threading.Lock()
        self._envs: dict[EnvKey, IsolatedEnvironment] = {}
        self._key_locks: dict[EnvKey, threading.Lock] = {}
        # no_deps environments by (requirements, cutoff) alone: see get
        self._held: dict[tuple[tuple[str, ...], datetime | None], IsolatedEnvironment] = {}
        self._closed = False

    def prepare(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        uploaded_before: datetime | None = None,
    ) -> None:
        """Start making the environment for ``requirements`` in the background, so that
        installing it overlaps other work; a failure shows again when it is asked for."""

        def make() -> None:
            try:
                self.get(
                    requirements, what, constraints=constraints, uploaded_before=uploaded_before
                )
            except Exception:  # noqa: BLE001 - reported when the environment is asked for
                return

        threading.Thread(target=make, name="lockbuild-env", daemon=True).start()

    def get(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        no_deps: bool = False,
        uploaded_before: datetime | None = None,
    ) -> IsolatedEnvironment:
        key = EnvKey.of(requirements, constraints, no_deps, uploaded_before)
        if no_deps:
            # Exactly these pins and nothing else (a hook round's environment): the
            # constraints cannot change what it holds, and the hook's answer is kept by
            # the pins alone, so every release with these pins shares one, whatever the
            # round's constraints were.
            with self._lock:
                held = self._held.get((key.requirements, uploaded_before))
            if held is not None:
                return held
        memo = self.memo
        remembered = memo_key(key, self.index, self.base_python) if memo else ""
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            env = self._envs.get(key)
            if env is None and memo is not None:
                recalled = memo.recall(remembered)
                if recalled is not None:
                    reason = f"{recalled[1]} (remembered from an earlier run with this cut-off)"
                    raise HookFailed(what, recalled[0], reason, cause=recalled[1])
            if env is None:
                env = IsolatedEnvironment(
                    self.index, base_python=self.base_python, logs=self.logs
                ).__enter__()
                try:
                    env.install(key, what)
                except HookFailed as exc:
                    env.__exit__()
                    if memo is not None and exc.cause:
                        memo.remember(remembered, exc.hook, exc.reason)
                    raise
                except BaseException:
                    env.__exit__()
                    raise
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._envs[key] = env
                        if no_deps:
                            self._held.setdefault((key.requirements, uploaded_before), env)
                if closed:  # made after close(): nobody else would remove it
                    env.__exit__()
                    raise BuildError(f"{what}: the run ended while its environment was made")
            return env

    def close(self) -> None:
        with self._lock:
            self._closed = True
            envs, self._envs = list(self._envs.values()), {}
            self._held = {}
        if len(envs) < 2:
            for env in envs:
                env.__exit__()
            return
        # Removing a venv is thousands of unlinks and stopping its fork servers a wait
        # (set c with --build-deps-for all: a fifth of the main thread's run, one venv
        # after another): side by side, each still removed before close returns.
        pool = DaemonPool(min(4, len(envs)))
        try:
            for future in [pool.submit(env.__exit__) for env in envs]:
                pool.wait(future)
        finally:
            pool.shutdown()


if TYPE_CHECKING:
    # pypa build's IsolatedEnv is a Protocol: the class meets it by its two members, and
    # is checked against it here rather than subclassing it, which imported build (and
    # importlib.metadata) on every compile's start-up for nothing at run time.
    from build.env import IsolatedEnv

    _MEETS_ISOLATED_ENV: type[IsolatedEnv] = IsolatedEnvironment
