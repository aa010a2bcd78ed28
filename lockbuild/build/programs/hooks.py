"""Run inside an isolated build environment (``python hooks.py MODE ...``, never with
lockbuild importable there): calls get_requires_for_build_wheel and then, when it asked
for nothing more, prepare_metadata_for_build_wheel in one interpreter, writing
``{"requires": [...], "dist_info": name or null}`` as JSON to a result file.

``both SPEC BACKEND_PATH OUT RESULT``: once, in the project directory (BACKEND_PATH a
JSON list of in-tree backend directories).

``serve SPEC``: a fork server. It imports the backend once; each request (a JSON line on
stdin: id, project, out, result, log) is served by a forked child, in a process group
of its own, that changes to the project directory and runs both hooks (or the one
get_requires_for_build_* hook the request names as ``hook``), its output going
to the log file. The server answers ``<id> pid <pid>`` when a child starts and
``<id> <exit code>`` when it ends, after killing what the child left running in its
group. Importing setuptools is most of what a hook costs, so a dozen sdists sharing one
environment import it once."""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import traceback
from typing import Any


def load_backend(spec: str) -> Any:
    """The backend object named by ``module:attr.attr`` (PEP 517 build-backend)."""
    module, _, attrs = spec.partition(":")
    backend = __import__(module, fromlist=["_"])
    for attr in filter(None, attrs.split(".")):
        backend = getattr(backend, attr)
    return backend


def run_both(backend: Any, out_dir: str, result_file: str) -> None:
    result: dict[str, Any] = {"requires": None, "dist_info": None}
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    result["requires"] = list(hook({})) if hook is not None else []
    prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if not result["requires"] and prepare is not None:
        result["dist_info"] = prepare(out_dir, {})
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


# What a request may name as its one hook (the fork server runs nothing else alone).
REQUIRES_HOOKS = (
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_editable",
)


def run_requires(backend: Any, hook: str, result_file: str) -> None:
    """One get_requires_for_build_* hook; a backend without it asks for nothing (PEP 517)."""
    if hook not in REQUIRES_HOOKS:
        raise ValueError(f"not a get_requires hook: {hook!r}")
    found = getattr(backend, hook, None)
    result = {"requires": list(found({})) if found is not None else [], "dist_info": None}
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


def both(spec: str, backend_path: str, out_dir: str, result_file: str) -> None:
    for entry in reversed(json.loads(backend_path)):
        sys.path.insert(0, os.path.abspath(entry))
    run_both(load_backend(spec), out_dir, result_file)


class _Server:
    """The fork server's state: the answer channel, the wakeup pipe, running children."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.answers = os.dup(1)
        self.quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(self.quiet, 1)
        os.dup2(self.quiet, 2)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *args: None)
        self.running: dict[int, object] = {}

    def reap(self) -> None:
        while self.running:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            pid = info.si_pid
            # Still a zombie, so its pid (the group's id) cannot have been reused yet.
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            _, status = os.waitpid(pid, 0)
            ident = self.running.pop(pid, None)
            if ident is not None:
                code = os.waitstatus_to_exitcode(status)
                os.write(self.answers, f"{ident} {code}\n".encode())

    def serve(self, request: dict[str, Any]) -> None:
        """In the forked child: run both hooks for ``request``; never returns."""
        code = 1
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (self.answers, self.wake_r, self.wake_w):
                os.close(fd)
            os.dup2(self.quiet, 0)
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(request["project"])
            if request.get("hook"):
                run_requires(self.backend, request["hook"], request["result"])
            else:
                run_both(self.backend, request["out"], request["result"])
            code = 0
        except BaseException:  # noqa: BLE001 - the child reports any failure by its code
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def loop(self) -> None:
        os.write(self.answers, b"ready\n")
        pending = b""
        reading = True
        while reading or self.running:
            try:
                watch = [0, self.wake_r] if reading else [self.wake_r]
                ready = select.select(watch, [], [], 0.5)[0]
            except InterruptedError:
                ready = []
            if self.wake_r in ready:
                try:
                    os.read(self.wake_r, 4096)
                except BlockingIOError:
                    pass
            self.reap()
            if 0 in ready:
                chunk = os.read(0, 65536)
                reading = bool(chunk)
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        self.serve(request)
                    try:
                        os.setpgid(pid, pid)
                    except OSError:
                        pass
                    self.running[pid] = request["id"]
                    os.write(self.answers, f"{request['id']} pid {pid}\n".encode())
                self.reap()


def serve(spec: str) -> None:
    try:
        backend = load_backend(spec)
    except BaseException:  # noqa: BLE001 - exit 3: the caller falls back to pyproject_hooks
        sys.exit(3)
    _Server(backend).loop()


def main() -> None:
    # As under ``python -c``: the current directory (the project's, once there) comes
    # first on sys.path, not this file's directory.
    sys.path[0] = ""
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "both":
        both(*args[:4])
    elif mode == "serve":
        serve(args[0])
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
