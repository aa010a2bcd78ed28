"""Nothing of a run outlives lockbuild: interrupted (SIGINT, SIGTERM) while an installer
(pip or uv, each in a session of its own) fills a hook environment by building a slow
sdist, lockbuild exits at once and no process it started, or that those started, is left
alive; the same for sync interrupted while it builds an sdist whose backend hangs after
starting a daemon; and process.end_all's sweep on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import LOCKBUILD, ROOT, compile_args, write

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    idx = FixtureIndex(tmp_path_factory.mktemp("interrupt-index"))
    # slowdep is only an sdist whose build_wheel never ends (after starting a daemon of
    # its own), so filling app's hook environment keeps the installer building it.
    idx.sdist("slowdep", "1.0", build_requires=[], misbehave={"build_wheel": "spawn-hang"})
    idx.sdist("app", "1.0", build_requires=["slowdep"])
    # builds only when sync builds it (compile reads its metadata through the hook)
    idx.sdist("slowbuild", "1.0", build_requires=[], misbehave={"build_wheel": "spawn-hang"})
    idx.write()
    with IndexServer(idx.root) as srv:
        yield srv


def _marked(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``mark``."""
    needle = f"\0LB_TEST_MARK={mark}\0".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            state = Path(f"/proc/{entry.name}/stat").read_bytes().rpartition(b")")[2].split()[0]
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X") and needle in b"\0" + environ:
            found.append(int(entry.name))
    return found


def _reset_signals() -> None:
    """In the child: SIGINT and SIGTERM at their defaults even when the suite runs with
    SIGINT ignored (started in the background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("installer", ["pip", "uv"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_while_an_installer_builds_leaves_nothing_running(
    tmp_path: Path, server: IndexServer, installer: str, signum: int
) -> None:
    mark = uuid.uuid4().hex
    builds = tmp_path / "builds.log"
    env = isolated_env(
        tmp_path,
        LB_TEST_MARK=mark,
        LBBACKEND_BUILD_LOG=str(builds),
        LOCKBUILD_HOOK_INSTALLER=installer,
        LOCKBUILD_HOOK_TIMEOUT="300",
    )
    write(tmp_path / "requirements.in", "app\n")
    proc = subprocess.Popen(
        [*LOCKBUILD, *compile_args(server.url, tmp_path / "cache")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_reset_signals,
    )
    try:
        deadline = time.monotonic() + 120
        while not (builds.exists() and "slowdep" in builds.read_text()):
            if proc.poll() is not None:
                raise AssertionError(f"ended before the slow build: {proc.communicate()}")
            assert time.monotonic() < deadline, "the slow build never started"
            time.sleep(0.05)
        time.sleep(0.5)  # the build's daemon started too
        assert len(_marked(mark)) >= 4  # lockbuild, the installer, the backend, its daemon
        proc.send_signal(signum)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    if signum == signal.SIGINT:
        assert stderr.strip().splitlines()[-1] == "lockbuild: interrupted; no files were changed"
    else:
        assert stderr.strip().splitlines()[-1] == "lockbuild: ended by SIGTERM"
    assert _marked(mark) == []
    assert not (tmp_path / "requirements.txt").exists()
    assert not (tmp_path / "requirements-build.txt").exists()


_ORPHANS = """
import subprocess, sys, time
from lockbuild import process
process.supervise()
# A child that starts a grandchild in a session of its own and exits: the grandchild is
# left to init, out of lockbuild's tree and out of the child's group, found by the run's
# token alone.
process.run_bounded([sys.executable, "-c", '''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
'''], cwd=None, env=None, log=sys.argv[1])
# A server with a child of its own, both running.
deep = process.start_server([sys.executable, "-c", '''
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
time.sleep(120)
'''], cwd=None, env=None)
time.sleep(1)
process.end_all()
try:
    process.run_bounded([sys.executable, "-c", "pass"], cwd=None, env=None, log=sys.argv[1])
except process.Interrupted:
    print("refused")
"""


def test_end_all_reaches_orphans_and_descendants_and_starts_nothing_after(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = isolated_env(tmp_path, LB_TEST_MARK=mark)
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", _ORPHANS, str(tmp_path / "log")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "refused\n"
    deadline = time.monotonic() + 5
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(mark) == []


@pytest.mark.parametrize("installer", ["pip", "uv"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sync_interrupted_while_building_leaves_nothing_running(
    tmp_path: Path, server: IndexServer, installer: str, signum: int
) -> None:
    mark = uuid.uuid4().hex
    builds = tmp_path / "builds.log"
    env = isolated_env(
        tmp_path,
        LB_TEST_MARK=mark,
        LBBACKEND_BUILD_LOG=str(builds),
        LOCKBUILD_CACHE_DIR=str(tmp_path / "lbcache"),
    )
    write(tmp_path / "requirements.in", "slowbuild\n")
    subprocess.run(
        [*LOCKBUILD, *compile_args(server.url, tmp_path / "cache")],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=300,
    )
    venv = tmp_path / "venv"
    flags = ["--without-pip"] if installer == "uv" else []
    subprocess.run([sys.executable, "-m", "venv", *flags, venv], check=True)
    proc = subprocess.Popen(
        [*LOCKBUILD, "sync", "--installer", installer, "--python", str(venv / "bin" / "python")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_reset_signals,
    )
    try:
        deadline = time.monotonic() + 120
        while not (builds.exists() and "slowbuild" in builds.read_text()):
            if proc.poll() is not None:
                raise AssertionError(f"ended before the slow build: {proc.communicate()}")
            assert time.monotonic() < deadline, "the slow build never started"
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(_marked(mark)) >= 3  # lockbuild, the backend, its daemon
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert _marked(mark) == []
    site = next(venv.glob("lib/python*/site-packages"))
    assert not list(site.glob("slowbuild*"))  # the environment was not changed


# The main thread waits for a page that never comes while the kernel hands the signal to
# another thread (pthread_kill here; the kernel may choose any thread of the process).
# Python runs the handler on the main thread only: before process.settled, the main
# thread slept on the future's lock until the page came (a CI run: a stalled fetch's
# whole 10 s after Ctrl-C).
ELSEWHERE = """
import signal, sys, threading, time
from concurrent.futures import Future
from lockbuild import process
process.supervise()
never = Future()
signum = getattr(signal, sys.argv[1])
def other():
    time.sleep(0.3)
    signal.pthread_kill(threading.get_ident(), signum)
    time.sleep(30)
    never.set_result("the page, too late")
threading.Thread(target=other, daemon=True).start()
try:
    print("returned", process.settled(never))
except process.Interrupted as exc:
    print("interrupted", signal.Signals(exc.signum).name)
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_wait_of_the_main_thread_ends_on_a_signal_it_did_not_receive(name: str) -> None:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", ELSEWHERE, name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_reset_signals,
    )
    assert proc.stdout.strip() == f"interrupted {name}", proc.stderr
    assert time.monotonic() - start < 15, proc.stderr  # not the 30 s the future takes
