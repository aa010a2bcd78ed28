"""The program's exit (lockbuild.cli.main.run / leave): it skips finalizing the interpreter but
keeps what an exit must do: the exit status SystemExit would give, atexit handlers, other
non-daemon threads finished, buffered output flushed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import isolated_env

SCRIPT = """
import atexit, pathlib, sys, threading, time
from lockbuild.cli.main import leave
out = pathlib.Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("finished")
threading.Thread(target=late).start()
# An executor left running, as the interpreter's exit would stop it.
from concurrent.futures import ThreadPoolExecutor
idle = ThreadPoolExecutor(2)
idle.submit(lambda: (out / "executor").write_text("done"))
sys.stdout.write("buffered, no newline")
sys.stderr.write("err, no newline")
leave({code})
"""


@pytest.mark.parametrize(
    ("code", "status", "stderr_tail"),
    [
        ("0", 0, ""),
        ("None", 0, ""),
        ("3", 3, ""),
        ("130", 130, ""),
        ("'bad thing'", 1, "bad thing\n"),
    ],
)
def test_leave_keeps_what_an_exit_does(
    tmp_path: Path, code: str, status: int, stderr_tail: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(code=code), str(tmp_path)],
        capture_output=True,
        text=True,
        env=isolated_env(tmp_path / "home"),
        timeout=60,
    )
    assert proc.returncode == status
    assert proc.stdout == "buffered, no newline"
    assert proc.stderr == "err, no newline" + stderr_tail
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"
    assert (tmp_path / "executor").read_text() == "done"


def test_program_exit_statuses(tmp_path: Path) -> None:
    """``python -m lockbuild`` goes through run(): click's statuses come out unchanged."""
    env = isolated_env(tmp_path / "home")

    def lockbuild(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockbuild", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )

    version = lockbuild("--version")
    assert version.returncode == 0 and version.stdout.startswith("lockbuild, version ")
    usage = lockbuild("compile", "--xyzzy")
    assert usage.returncode == 2
    assert usage.stderr.splitlines()[-1] == "Error: No such option '--xyzzy'."
    missing = lockbuild("compile", "--offline", "nope.in")
    assert missing.returncode == 1
    assert missing.stderr == "lockbuild: error: no such requirements file: nope.in\n"
    assert not (tmp_path / "nope.txt").exists()
