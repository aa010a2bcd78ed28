"""Running foreign code (a build backend's hook, a step of a build), bounded: its own
process group, output to a file (never a pipe, so a background child that keeps the
output open cannot hold lockbuild), a time limit after which the whole group is killed,
and nothing of the group left behind once it ends. Hooks, the hook server and sync's
builds all start their children through here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

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
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        _end(proc)
        raise ProcessTimeout(seconds) from None
    except BaseException:
        _end(proc)
        raise
    kill_group(proc.pid)
    return code


def _end(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    proc.kill()
    proc.wait()
