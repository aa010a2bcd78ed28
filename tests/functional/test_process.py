"""process.run_bounded, the one runner of foreign code (hooks, the hook server's children,
sync's build steps): output to a file, a time limit, and the child's whole process group
killed when it times out or ends; and the build step's one-line errors on top of it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from lockbuild.errors import BuildError
from lockbuild.process import (
    ProcessTimeout,
    run_bounded,
    run_captured,
    run_streamed,
    start_server,
    stop_server,
)
from lockbuild.sync.builder import _run

# A child that starts a grandchild in the background (same process group), writes the
# grandchild's pid to a file, prints a line and then does what argv[2] says.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
print("started", flush=True)
if sys.argv[2] == "hang":
    time.sleep(60)
sys.exit(int(sys.argv[2]) if sys.argv[2].isdigit() else 0)
"""


def _gone(pid: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a killed grandchild stays a zombie until init reaps it: look at its state
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _cmd(tmp_path: Path, mode: str) -> list[str]:
    return [sys.executable, "-c", _PARENT, str(tmp_path / "pid"), mode]


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_exit_code_output_in_the_log_and_nothing_left_running(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("before\n")
    code = run_bounded(_cmd(tmp_path, "3"), cwd=tmp_path, env=None, log=log)
    assert code == 3
    assert log.read_text() == "before\nstarted\n"
    assert _gone(int((tmp_path / "pid").read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    log = tmp_path / "log"
    started = time.monotonic()
    with pytest.raises(ProcessTimeout, match=r"^timed out after 1 s$"):
        run_bounded(_cmd(tmp_path, "hang"), cwd=None, env=dict(os.environ), log=log, timeout=1)
    assert time.monotonic() - started < 30
    assert _gone(int((tmp_path / "pid").read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_an_open_descriptor_as_the_log(tmp_path: Path) -> None:
    path = tmp_path / "build.log"
    with path.open("w", encoding="utf-8") as log:
        log.write("# header\n")
        log.flush()
        assert run_bounded(_cmd(tmp_path, "0"), cwd=None, env=None, log=log.fileno()) == 0
        log.write("# after\n")
    assert path.read_text() == "# header\nstarted\n# after\n"


@pytest.mark.skipif(os.name != "posix", reason="process groups")
@pytest.mark.parametrize(
    ("argv", "timeout", "message"),
    [
        ([sys.executable, "-c", "import sys; sys.exit(3)", "x"], 30, "failed (exit 3) running -c "),
        ([sys.executable, "-c", "import time; time.sleep(60)"], 0.5, "did not finish within 0.5 s"),
        (["/nonexistent/python", "-m", "pip"], 30, "cannot run /nonexistent/python: "),
    ],
)
def test_build_step_errors(tmp_path: Path, argv: list[str], timeout: float, message: str) -> None:
    with (tmp_path / "log").open("w", encoding="utf-8") as log, pytest.raises(BuildError) as info:
        _run(argv, log, timeout)
    assert message in info.value.message
    assert "\n" not in info.value.message
    assert (tmp_path / "log").read_text().startswith(f"$ {argv[0]} ")


@pytest.mark.skipif(os.name != "posix", reason="process groups")
@pytest.mark.parametrize(
    ("mode", "code"),
    [("0", 0), ("3", 3)],
)
def test_captured_keeps_stdout_and_stderr_apart_and_leaves_nothing(
    tmp_path: Path, mode: str, code: int
) -> None:
    script = _PARENT.replace(
        'print("started", flush=True)', 'print("out"); print("err", file=sys.stderr)'
    )
    got = run_captured([sys.executable, "-c", script, str(tmp_path / "pid"), mode], timeout=30)
    assert (got.returncode, got.stdout, got.stderr) == (code, "out\n", "err\n")
    assert _gone(int((tmp_path / "pid").read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_captured_times_out_with_its_group_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ProcessTimeout, match=r"^timed out after 1 s$"):
        run_captured(_cmd(tmp_path, "hang"), timeout=1)
    assert time.monotonic() - started < 30
    assert _gone(int((tmp_path / "pid").read_text()))


def test_captured_cannot_start() -> None:
    with pytest.raises(OSError):
        run_captured(["/nonexistent/program"], timeout=5)


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_streamed_hands_over_each_line_even_after_a_lone_carriage_return(tmp_path: Path) -> None:
    script = _PARENT.replace(
        'print("started", flush=True)',
        'sys.stdout.write("a\\nprogress 1\\rprogress 2\\rdone\\n"); sys.stdout.flush()',
    )
    seen: list[str] = []
    cmd = [sys.executable, "-c", script, str(tmp_path / "pid"), "4"]
    started = time.monotonic()
    # The background grandchild keeps the output open for 60 s: the runner must not wait.
    assert run_streamed(cmd, env=None, on_line=seen.append, timeout=30) == 4
    assert time.monotonic() - started < 20
    assert seen == ["a", "progress 1", "progress 2", "done"]
    assert _gone(int((tmp_path / "pid").read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_streamed_times_out_with_its_group_killed(tmp_path: Path) -> None:
    seen: list[str] = []
    with pytest.raises(ProcessTimeout, match=r"^timed out after 1 s$"):
        run_streamed(_cmd(tmp_path, "hang"), env=None, on_line=seen.append, timeout=1)
    assert seen == ["started"]
    assert _gone(int((tmp_path / "pid").read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_a_server_is_stopped_with_its_group(tmp_path: Path) -> None:
    script = _PARENT.replace('print("started", flush=True)', "sys.stdin.read()")
    cmd = [sys.executable, "-c", script, str(tmp_path / "pid"), "0"]
    server = start_server(cmd, cwd=None, env=None)
    deadline = time.monotonic() + 10
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_server(server, grace=10)
    assert server.returncode == 0
    assert _gone(int((tmp_path / "pid").read_text()))
