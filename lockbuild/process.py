"""Running other programs, bounded: each in its own process group, output to a file
(never a pipe that lockbuild waits on to end, so a background child that keeps the output
open cannot hold lockbuild), a time limit after which the whole group is killed, and
nothing of the group left behind once it ends. Every program lockbuild starts is started
here: hooks, the hook server, sync's builds and installers, interpreters asked about
themselves, venv creation, pip asked for its version, its default index or a download."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lockbuild import limits


class ProcessTimeout(Exception):
    """The process did not end within the time limit (its group has been killed)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


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
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
        )
    _wait(proc, seconds)
    return proc.returncode


def _end(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    proc.kill()
    proc.wait()


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
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=os.name == "posix",
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
    proc = subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=os.name == "posix",
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
    kill_group(proc.pid)
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
    kill_group(proc.pid)


def start_server(
    cmd: Sequence[str], *, cwd: str | Path | None, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """Start a long-lived program that lockbuild talks to over its stdin and stdout (the
    hook server), in its own process group; ``stop_server`` ends it and its group."""
    return subprocess.Popen(
        list(cmd),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        start_new_session=os.name == "posix",
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
    kill_group(proc.pid)
