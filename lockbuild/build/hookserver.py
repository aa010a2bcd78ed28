"""The lockbuild side of the fork server in programs/hooks.py: one interpreter per
environment and backend imports the backend once and forks a child per request."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lockbuild import limits
from lockbuild.build import programs
from lockbuild.process import ProcessTimeout, kill_group, start_server, stop_server

if TYPE_CHECKING:
    from lockbuild.build.environments import IsolatedEnvironment


# Both hooks that preparing metadata needs run in one interpreter (one backend import
# instead of two) when the first asks for nothing that is not installed yet, by the
# program lockbuild/build/programs/hooks.py (once, or as a fork server per environment and
# backend). Anything unusual falls back to pyproject_hooks, which calls one hook per
# process.


class _Pending:
    """One request to the fork server: the child's pid once started, its exit code once
    ended (a plain mutable holder shared by the caller and the reader thread)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.pid: int | None = None
        self.code: int | None = None


class HookServer:
    """The lockbuild side of the fork server in ``programs/hooks.py``: requests from any
    thread, each answered with the child's exit code (None when the server is gone: the
    caller falls back)."""

    def __init__(self, env: IsolatedEnvironment, backend: str) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, _Pending] = {}
        self._next = 0
        self._proc = start_server(
            [env.python, str(programs.path("hooks")), "serve", backend],
            cwd=Path(env.python).parent.parent,
            env=env.environ(),
        )
        assert self._proc.stdout is not None
        self._alive = self._proc.stdout.readline() == b"ready\n"
        if self._alive:
            threading.Thread(target=self._read, name="lockbuild-hooks", daemon=True).start()
        else:
            self.close()

    def ready(self) -> bool:
        with self._lock:
            return self._alive

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            ident, _, rest = line.decode().strip().partition(" ")
            with self._lock:
                if rest.startswith("pid "):
                    pending = self._waiting.get(int(ident))
                    if pending is not None:
                        pending.pid = int(rest[4:])
                    continue
                pending = self._waiting.pop(int(ident), None)
            if pending is not None:
                pending.code = int(rest)
                pending.event.set()
        with self._lock:
            self._alive = False
            waiters, self._waiting = list(self._waiting.values()), {}
        for waiter in waiters:
            waiter.event.set()

    def run(
        self,
        project_dir: Path,
        out_dir: Path,
        result_file: Path,
        log: Path,
        hook: str | None = None,
    ) -> int | None:
        """The child's exit code; None when the server is gone. Raises ProcessTimeout (the
        child's group killed) when it runs longer than LOCKBUILD_HOOK_TIMEOUT. ``hook``:
        that one get_requires_for_build_* hook alone (else both hooks of metadata)."""
        pending = _Pending()
        with self._lock:
            if not self._alive:
                return None
            self._next += 1
            ident = self._next
            self._waiting[ident] = pending
            request = {
                "id": ident,
                "project": str(project_dir),
                "out": str(out_dir),
                "result": str(result_file),
                "log": str(log),
            }
            if hook is not None:
                request["hook"] = hook
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._waiting.pop(ident, None)
                return None
        seconds = limits.hook_timeout()
        if not pending.event.wait(seconds):
            with self._lock:
                self._waiting.pop(ident, None)
                pid = pending.pid
            if pid is not None:
                kill_group(pid)
            raise ProcessTimeout(seconds)
        return pending.code

    def close(self) -> None:
        with self._lock:
            self._alive = False
        stop_server(self._proc, grace=10)
