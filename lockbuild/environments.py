"""Isolated build environments: a venv filled by pip or uv with a requirement set
(bound by constraints and an upload cutoff), and the pool that shares them in a run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.utils import canonicalize_name

from . import limits
from .errors import BuildError, UsageError
from .hookfail import HookFailed, LogKeeper, last_line
from .hookserver import HookServer


class IsolatedEnvironment:
    """A fresh virtual environment holding exactly the requirements given, never the
    user's environment; removed when the context ends. ``pip_env`` carries the index
    options as PIP_* variables (never on a command line, where a token would show)."""

    def __init__(
        self,
        pip_env: Mapping[str, str],
        *,
        base_python: str | None = None,
        logs: LogKeeper | None = None,
    ) -> None:
        self.pip_env = dict(pip_env)
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
            proc = subprocess.run(
                [self.base_python, "-m", "venv", "--without-pip", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                self._tmp.cleanup()
                raise BuildError(
                    f"{self.base_python}: cannot make a virtual environment: "
                    f"{last_line(proc.stderr or proc.stdout)}"
                )
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = str(root / bindir / ("python.exe" if os.name == "nt" else "python"))
        self.bindir = str(root / bindir)
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

    def install(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        no_deps: bool = False,
        uploaded_before: datetime | None = None,
    ) -> None:
        """Install ``requirements``; ``constraints`` bind them and also any build
        environment the installer makes on the way (for build requirements that are
        themselves sdists); ``uploaded_before`` admits only files uploaded by then."""
        if not requirements:
            return
        with tempfile.TemporaryDirectory(prefix="lockbuild-req-") as tmp:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            constraint_file = Path(tmp) / "build-constraints.txt"
            constraint_file.write_text("\n".join(constraints) + "\n")
            uv = uv_binary()
            if uv is not None:
                cmd, env = self._uv_command(uv, no_deps, constraints, constraint_file)
                if uploaded_before is not None:
                    cmd += ["--exclude-newer", _rfc3339(uploaded_before)]
            else:
                cmd, env = self._pip_command(no_deps, constraints, constraint_file)
                if uploaded_before is not None:
                    # pip admits uploads strictly before the time given.
                    later = uploaded_before + timedelta(seconds=1)
                    cmd += ["--uploaded-prior-to", _rfc3339(later)]
            if constraints:
                cmd += ["-c", str(constraint_file)]
            proc = subprocess.run(
                [*cmd, "-r", str(req_file)], capture_output=True, text=True, env=env
            )
        if proc.returncode != 0:
            output = (proc.stdout or "") + (proc.stderr or "")
            hook = f"installing build requirements {', '.join(requirements)}"
            log = self.logs.keep(what, "install", f"$ {' '.join(cmd)}\n{output}")
            raise HookFailed(what, hook, f"failed: {last_line(proc.stderr or proc.stdout)}", log)

    def _pip_command(
        self, no_deps: bool, constraints: Sequence[str], constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "pip", "--python", self.python, "install"]
        cmd += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location", "-q"]
        if no_deps:
            cmd.append("--no-deps")
        env = self.environ()
        if constraints:
            if _pip_version() >= (25, 3):
                cmd += ["--build-constraint", str(constraint_file)]
            else:
                env["PIP_CONSTRAINT"] = " ".join(
                    p for p in (env.get("PIP_CONSTRAINT"), str(constraint_file)) if p
                )
        return cmd, env

    def _uv_command(
        self, uv: str, no_deps: bool, constraints: Sequence[str], constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        """The same install through uv, several times faster than pip; the index options
        are translated so that uv looks where pip would (all indexes, best match)."""
        cmd = [uv, "pip", "install", "--python", self.python, "--quiet"]
        if no_deps:
            cmd.append("--no-deps")
        if constraints:
            cmd += ["--build-constraints", str(constraint_file)]
        env = self.environ()
        env["UV_NO_CONFIG"] = "1"
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
        if self.pip_env.get("PIP_NO_INDEX"):
            cmd.append("--no-index")
        if self.pip_env.get("PIP_INDEX_URL"):
            env["UV_INDEX_URL"] = self.pip_env["PIP_INDEX_URL"]
        if self.pip_env.get("PIP_EXTRA_INDEX_URL"):
            env["UV_EXTRA_INDEX_URL"] = self.pip_env["PIP_EXTRA_INDEX_URL"]
        for link in self.pip_env.get("PIP_FIND_LINKS", "").split():
            cmd += ["--find-links", link]
        if self.pip_env.get("PIP_PRE"):
            cmd += ["--prerelease", "allow"]
        return cmd, env

    def pins(self) -> tuple[str, ...]:
        """``name==version`` of everything installed here, sorted (asked once)."""
        if self._pins is None:
            code = (
                "import importlib.metadata as m\n"
                "for d in m.distributions(): print(d.metadata['Name'], d.version)"
            )
            proc = subprocess.run(
                [self.python, "-I", "-c", code], capture_output=True, text=True, check=False
            )
            found = set()
            for line in proc.stdout.splitlines():
                name, _, version = line.partition(" ")
                if name and version:
                    found.add(f"{canonicalize_name(name)}=={version}")
            self._pins = tuple(sorted(found))
        return self._pins

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.pip_env)
        env["PATH"] = self.bindir + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONPATH", None)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        return env


def uv_binary() -> str | None:
    """uv, when it is at hand (beside this Python, or on PATH), to fill hook environments;
    LOCKBUILD_HOOK_INSTALLER=pip keeps pip, =uv insists on uv."""
    chosen = limits.hook_installer()
    if chosen == "pip":
        return None
    beside = Path(sys.executable).with_name("uv.exe" if os.name == "nt" else "uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None and chosen == "uv":
        raise UsageError("LOCKBUILD_HOOK_INSTALLER=uv: uv is neither beside lockbuild nor on PATH")
    return found


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import version

    try:
        return tuple(int(x) for x in version("pip").split(".")[:2])
    except (ValueError, LookupError):
        return (0,)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EnvironmentPool:
    """Isolated environments shared by every hook that needs the same requirement set,
    constraints and upload cutoff: each is created and populated once per run; ``close``
    removes them all. ``base_python`` is the interpreter they are made from (None: the
    one running lockbuild)."""

    def __init__(self, pip_env: Mapping[str, str], *, base_python: str | None = None) -> None:
        self.pip_env = dict(pip_env)
        self.base_python = base_python
        self.logs = LogKeeper()
        self._lock = threading.Lock()
        self._envs: dict[EnvKey, IsolatedEnvironment] = {}
        self._key_locks: dict[EnvKey, threading.Lock] = {}
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
        key = EnvKey(
            tuple(sorted(set(requirements))),
            no_deps,
            tuple(sorted(set(constraints))),
            uploaded_before,
        )
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            env = self._envs.get(key)
            if env is None:
                env = IsolatedEnvironment(
                    self.pip_env, base_python=self.base_python, logs=self.logs
                ).__enter__()
                try:
                    env.install(
                        key.requirements,
                        what,
                        constraints=key.constraints,
                        no_deps=no_deps,
                        uploaded_before=uploaded_before,
                    )
                except BaseException:
                    env.__exit__()
                    raise
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._envs[key] = env
                if closed:  # made after close(): nobody else would remove it
                    env.__exit__()
                    raise BuildError(f"{what}: the run ended while its environment was made")
            return env

    def close(self) -> None:
        with self._lock:
            self._closed = True
            envs, self._envs = list(self._envs.values()), {}
        for env in envs:
            env.__exit__()


@dataclass(frozen=True)
class EnvKey:
    """What shapes an isolated environment (environments are shared by this key)."""

    requirements: tuple[str, ...]
    no_deps: bool
    constraints: tuple[str, ...]
    uploaded_before: datetime | None
