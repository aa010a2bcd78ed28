"""Running a build backend's process, bounded: its own process group, output to a file
(never a pipe, so a background child that keeps the output open cannot hold compile), a
time limit after which the whole group is killed, and nothing of the group left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import limits


class HookTimeout(Exception):
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
    env: Mapping[str, str],
    log: Path,
    timeout: float | None = None,
) -> int:
    """Run ``cmd`` with stdin from /dev/null and stdout and stderr appended to ``log``;
    its exit code. Raises HookTimeout after ``timeout`` seconds (LOCKBUILD_HOOK_TIMEOUT
    by default). Whatever the process started and left running is killed when it ends."""
    seconds = limits.hook_timeout() if timeout is None else timeout
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
        )
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.kill()
        proc.wait()
        raise HookTimeout(seconds) from None
    except BaseException:
        kill_group(proc.pid)
        proc.kill()
        proc.wait()
        raise
    kill_group(proc.pid)
    return code
