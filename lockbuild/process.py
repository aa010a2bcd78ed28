"""Running other programs, bounded: each in its own process group, output to a file
(never a pipe that lockbuild waits on to end, so a background child that keeps the output
open cannot hold lockbuild), a time limit after which the whole group is killed, and
nothing of the group left behind once it ends. Every program lockbuild starts is started
here: hooks, the hook server, sync's builds and installers, interpreters asked about
themselves, venv creation, pip asked for its version, its default index or a download.

It also ends every process of a run when the run ends, however it ends (``supervise``
and ``end_all``): a child in a process group or session of its own (everything started
here, and uv's own) is out of reach of the terminal's Ctrl-C and of a signal to
lockbuild's group, and what it started may have outlived it. They are found as this
process's descendants in /proc and by the run's token in their environment, which
children inherit and which still marks a process whose parent died and left it to init."""

from __future__ import annotations

import contextlib
import io
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

from lockbuild import limits

T = TypeVar("T")


class ProcessTimeout(Exception):
    """The process did not end within the time limit (its group has been killed)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


# Marks every process of one run (inherited through the environment; not part of a
# replay key).
RUN_TOKEN = "LOCKBUILD_RUN_TOKEN"


class Interrupted(KeyboardInterrupt):
    """The run was interrupted by ``signum`` (SIGINT, SIGTERM or SIGHUP), or is ending
    and starts nothing more; every process of the run has been killed."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Children:
    """The process groups this run started and whether it is ending: process-wide by
    nature (signals and children belong to the process), hence the one instance."""

    def __init__(self) -> None:
        # Reentrant: the signal handler runs on the main thread, which may hold it.
        self.lock = threading.RLock()
        self.groups: set[int] = set()
        self.ending = False
        self.started = False  # whether this run started any program at all


_CHILDREN = _Children()


def _start(cmd: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``Popen`` in a process group of its own, remembered for ``end_all``; raises
    Interrupted once the run is ending, so nothing starts after the last sweep."""
    with _CHILDREN.lock:
        if _CHILDREN.ending:
            raise Interrupted()
        proc: subprocess.Popen[bytes] = subprocess.Popen(
            list(cmd), start_new_session=os.name == "posix", **popen
        )
        _CHILDREN.groups.add(proc.pid)
        _CHILDREN.started = True
    return proc


def supervise() -> None:
    """Make this process the supervisor of a run (the ``lockbuild`` program, not a
    library caller): a token in the environment its children inherit, and SIGINT,
    SIGTERM and SIGHUP ending every process of the run before they raise Interrupted on
    the main thread. A signal the caller ignores (a background job's SIGINT) stays so."""
    os.environ[RUN_TOKEN] = f"{os.getpid()}-{os.urandom(8).hex()}"
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    end_all()
    raise Interrupted(signum)


# How long the main thread waits on a future at a time before it looks at signals.
_WAIT_SLICE = 0.2


def settled(future: Future[T]) -> T:
    """``future.result()``, but on the main thread waited for in slices, so that an
    interruption ends the wait at once. Python runs a signal's handler only on the main
    thread, between bytecodes: should the kernel hand the signal to another thread, a
    main thread asleep on a lock would not run the handler until the future is done
    (a stalled fetch, its whole timeout). Between slices the handler runs, and its
    Interrupted ends the wait."""
    if threading.current_thread() is not threading.main_thread():
        return future.result()
    while not future.done():
        wait((future,), timeout=_WAIT_SLICE)
    return future.result()


def end_all() -> None:
    """Kill every process of this run and everything they started, and start nothing
    more. Each is stopped first, so that none can fork while the rest are found."""
    with _CHILDREN.lock:
        _CHILDREN.ending = True
        groups = set(_CHILDREN.groups)
        started = _CHILDREN.started
    # Every program of lockbuild's is started here: a run that started none (--help,
    # check, a replayed compile) has nothing to look for.
    if os.name != "posix" or not started:
        return
    token = os.environ.get(RUN_TOKEN, "")
    stopped: set[int] = set()
    for _ in range(100):
        found = _of_this_run(token) - stopped
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= found
    for pgid in groups:
        kill_group(pgid)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _of_this_run(token: str) -> set[int]:
    """Live processes (not zombies) that descend from this one or carry ``token`` in
    their environment; none where /proc cannot be read."""
    me = os.getpid()
    marker = f"\0{RUN_TOKEN}={token}\0".encode() if token else None
    children: dict[int, list[int]] = {}
    live: set[int] = set()
    marked: set[int] = set()
    try:
        names = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return set()
    for name in names:
        pid = int(name)
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) < 2 or fields[0] in (b"Z", b"X"):
            continue
        live.add(pid)
        children.setdefault(int(fields[1]), []).append(pid)
        if marker is not None and pid != me:
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if marker in b"\0" + f.read():
                        marked.add(pid)
            except OSError:
                continue
    found: set[int] = set()
    todo = [me]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return (found | marked) & live


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in a process group (none left is fine)."""
    if os.name != "posix" or pgid <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_bounded(
    cmd: Sequence[str],
    *,
    cwd: str | Path | None,
    env: Mapping[str, str] | None,
    log: Path | int,
    timeout: float | None = None,
) -> int:
    """Run ``cmd`` with stdin from /dev/null and stdout and stderr appended to ``log`` (a
    file, or the descriptor of one already open); its exit code. ``env`` None inherits
    lockbuild's. Raises ProcessTimeout after ``timeout`` seconds (LOCKBUILD_HOOK_TIMEOUT
    by default), OSError when it cannot start. Whatever the process started and left
    running is killed when it ends."""
    seconds = limits.hook_timeout() if timeout is None else timeout
    with contextlib.ExitStack() as stack:
        out = log if isinstance(log, int) else stack.enter_context(open(log, "ab"))
        proc = _start(
            cmd,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait(proc, seconds)
    return proc.returncode


def _end(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    proc.kill()
    proc.wait()
    _forget(proc)


def _forget(proc: subprocess.Popen[bytes]) -> None:
    """Its group killed, and no longer one of the run's (the group id may be reused)."""
    kill_group(proc.pid)
    with _CHILDREN.lock:
        _CHILDREN.groups.discard(proc.pid)


@dataclass(frozen=True)
class Captured:
    """How a program run by ``run_captured`` ended, and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_captured(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> Captured:
    """Run ``cmd`` bounded as ``run_bounded`` does, its stdout and stderr kept apart (each
    in a temporary file) and returned as text. Raises ProcessTimeout after ``timeout``
    seconds, OSError when it cannot start."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        proc = _start(
            cmd,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        _wait(proc, timeout)
        out.seek(0)
        err.seek(0)
        return Captured(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def run_streamed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    on_line: Callable[[str], None],
    timeout: float,
) -> int:
    """Run ``cmd`` bounded, its stdout and stderr merged and handed to ``on_line`` line by
    line as they come (an installer's progress); its exit code. ``on_line`` runs on the
    caller's thread; a reader thread drains the pipe, and once the program has ended its
    group is killed, which closes the output a leftover background child still held.
    Raises ProcessTimeout after ``timeout`` seconds, OSError when it cannot start."""
    proc = _start(
        cmd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: IO[bytes]) -> None:
        # Universal newlines: a progress bar redrawn after a lone \r is a line too.
        with io.TextIOWrapper(stream, encoding="utf-8", errors="replace") as text:
            for line in text:
                lines.put(line.rstrip("\n"))
        lines.put(None)

    assert proc.stdout is not None
    threading.Thread(target=read, args=(proc.stdout,), name="lockbuild-output", daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcessTimeout(timeout)
            try:
                line = lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if proc.poll() is not None:
                    kill_group(proc.pid)
                continue
            if line is None:
                break
            on_line(line)
        proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        _end(proc)
        raise ProcessTimeout(timeout) from None
    except BaseException:
        _end(proc)
        raise
    _forget(proc)
    return proc.returncode


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for ``proc`` up to ``timeout`` seconds, then kill whatever its group left."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(proc)
        raise ProcessTimeout(timeout) from None
    except BaseException:
        _end(proc)
        raise
    _forget(proc)


def start_server(
    cmd: Sequence[str], *, cwd: str | Path | None, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """Start a long-lived program that lockbuild talks to over its stdin and stdout (the
    hook server), in its own process group; ``stop_server`` ends it and its group."""
    return _start(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=dict(env) if env is not None else None,
    )


def stop_server(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Close a server's input, give it ``grace`` seconds to end, then kill its group."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _end(proc)
        return
    _forget(proc)
