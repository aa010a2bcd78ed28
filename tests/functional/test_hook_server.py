"""The fork server that runs metadata hooks: the backend is imported once per environment,
each hook runs in its own child in the project's directory, failures fall back to the
one-process-per-hook path, and a backend that does not import is never served."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockbuild.build.environments import IsolatedEnvironment
from lockbuild.build.hookfail import HookFailed
from lockbuild.build.hooks import _both_hooks, _served_requires, run_hook
from lockbuild.dists.buildsystem import BuildSystem
from lockbuild.errors import BuildError
from lockbuild.indexopts import IndexOptions

BACKEND = """
import os, json
with open(os.environ["FORK_LOG"], "a") as handle:
    handle.write(json.dumps({"event": "import", "pid": os.getpid()}) + "\\n")

def _note(event):
    with open(os.environ["FORK_LOG"], "a") as handle:
        handle.write(json.dumps({"event": event, "pid": os.getpid(), "ppid": os.getppid(),
                                 "cwd": os.getcwd()}) + "\\n")

def get_requires_for_build_wheel(config_settings=None):
    _note("requires")
    if os.path.exists("FAIL"):
        raise RuntimeError("this project does not build")
    if os.path.exists("HANG"):
        import time
        while True:
            time.sleep(1)
    if os.path.exists("SPAWN"):
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open("SPAWN", "w") as handle:
            handle.write(str(child.pid))
    return []

def prepare_metadata_for_build_wheel(out_dir, config_settings=None):
    _note("prepare")
    name = os.path.basename(os.getcwd())
    info = os.path.join(out_dir, name + "-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as handle:
        handle.write(f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n")
    return name + "-1.0.dist-info"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IsolatedEnvironment]:
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FORK_LOG", str(log))
    environment = IsolatedEnvironment(IndexOptions()).__enter__()
    purelib = subprocess.run(
        [environment.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "forkbackend.py").write_text(BACKEND)
    Path(purelib, "brokenbackend.py").write_text("raise ImportError('no')\n")
    try:
        yield environment
    finally:
        environment.__exit__()


def _events(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _project(tmp_path: Path, name: str) -> Path:
    project = tmp_path / "projects" / name
    project.mkdir(parents=True)
    return project


SYSTEM = BuildSystem(("forkbackend",), "forkbackend", (), True)


def test_one_import_many_hooks_each_in_its_project(
    tmp_path: Path, env: IsolatedEnvironment
) -> None:
    results = []
    for name in ("one", "two", "three"):
        out = tmp_path / f"out-{name}"
        out.mkdir()
        found = _both_hooks(_project(tmp_path, name), SYSTEM, env, out, name)
        assert found == ([], f"{name}-1.0.dist-info")
        assert (
            (out / f"{name}-1.0.dist-info" / "METADATA").read_text().startswith("Metadata-Version")
        )
        results.append(found)
    events = _events(tmp_path)
    imports = [e for e in events if e["event"] == "import"]
    hooks = [e for e in events if e["event"] != "import"]
    assert len(imports) == 1, events
    server_pid = imports[0]["pid"]
    assert len(hooks) == 6
    # Every hook ran in a child of the process that imported the backend, in its project.
    assert {e["ppid"] for e in hooks} == {server_pid}
    assert len({e["pid"] for e in hooks}) == 3
    assert {Path(str(e["cwd"])).name for e in hooks} == {"one", "two", "three"}


def test_failing_hook_falls_back_and_the_server_goes_on(
    tmp_path: Path, env: IsolatedEnvironment
) -> None:
    bad = _project(tmp_path, "bad")
    (bad / "FAIL").write_text("")
    out = tmp_path / "out-bad"
    out.mkdir()
    assert _both_hooks(bad, SYSTEM, env, out, "bad") is None
    # The fallback (pyproject_hooks) reports the backend's own error.
    with pytest.raises(BuildError, match="this project does not build"):
        run_hook(bad, SYSTEM, env, "get_requires_for_build_wheel", "bad-1.0")
    out = tmp_path / "out-good"
    out.mkdir()
    assert _both_hooks(_project(tmp_path, "good"), SYSTEM, env, out, "good") == (
        [],
        "good-1.0.dist-info",
    )
    server = env.hook_server("forkbackend")
    assert server is not None and server.ready()


def test_requires_hook_alone_is_served_by_the_same_import(
    tmp_path: Path, env: IsolatedEnvironment
) -> None:
    """get_requires_for_build_wheel of many sdists sharing an environment (the hook
    rounds): one backend import, each hook in a child in its project, and only that
    hook; a failure there is None, so the caller asks pyproject_hooks."""
    for name in ("one", "two"):
        found = _served_requires(
            _project(tmp_path, name), SYSTEM, env, "get_requires_for_build_wheel", name
        )
        assert found == []
    bad = _project(tmp_path, "bad")
    (bad / "FAIL").write_text("")
    assert _served_requires(bad, SYSTEM, env, "get_requires_for_build_wheel", "bad") is None
    events = _events(tmp_path)
    imports = [e for e in events if e["event"] == "import"]
    hooks = [e for e in events if e["event"] != "import"]
    assert len(imports) == 1, events
    assert [e["event"] for e in hooks] == ["requires"] * 3
    assert {e["ppid"] for e in hooks} == {imports[0]["pid"]}
    assert [Path(str(e["cwd"])).name for e in hooks] == ["one", "two", "bad"]
    # A backend with a path of its own is not served (pyproject_hooks puts it on sys.path).
    in_tree = BuildSystem(("forkbackend",), "forkbackend", ("_backend",), True)
    assert _served_requires(bad, in_tree, env, "get_requires_for_build_wheel", "bad") is None


def test_backend_that_does_not_import_is_not_served(
    tmp_path: Path, env: IsolatedEnvironment
) -> None:
    assert env.hook_server("brokenbackend") is None
    system = BuildSystem(("x",), "brokenbackend", (), True)
    out = tmp_path / "out"
    out.mkdir()
    assert _both_hooks(_project(tmp_path, "p"), system, env, out, "p") is None


def test_dead_server_means_fallback(tmp_path: Path, env: IsolatedEnvironment) -> None:
    server = env.hook_server("forkbackend")
    assert server is not None
    server._proc.kill()
    server._proc.wait()
    out = tmp_path / "out"
    out.mkdir()
    # The request cannot be served: None from the server, then the one-process path.
    assert _both_hooks(_project(tmp_path, "p"), SYSTEM, env, out, "p") == (
        [],
        "p-1.0.dist-info",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return not status.exists() or status.read_text().split(")")[-1].split()[0] != "Z"


def test_hung_hook_is_killed_after_the_timeout(
    tmp_path: Path, env: IsolatedEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKBUILD_HOOK_TIMEOUT", "2")
    hung = _project(tmp_path, "hung")
    (hung / "HANG").write_text("")
    out = tmp_path / "out-hung"
    out.mkdir()
    started = time.monotonic()
    with pytest.raises(HookFailed, match="timed out after 2 s") as caught:
        _both_hooks(hung, SYSTEM, env, out, "hung-1.0")
    assert time.monotonic() - started < 60
    assert caught.value.log is not None and caught.value.log.exists()
    # The server itself goes on serving.
    out = tmp_path / "out-after"
    out.mkdir()
    found = _both_hooks(_project(tmp_path, "after"), SYSTEM, env, out, "after")
    assert found == ([], "after-1.0.dist-info")
    assert [e for e in _events(tmp_path) if e["event"] == "import"][1:] == []


def test_background_child_of_a_hook_neither_blocks_nor_outlives_it(
    tmp_path: Path, env: IsolatedEnvironment
) -> None:
    spawner = _project(tmp_path, "spawner")
    (spawner / "SPAWN").write_text("")
    out = tmp_path / "out-spawner"
    out.mkdir()
    started = time.monotonic()
    found = _both_hooks(spawner, SYSTEM, env, out, "spawner")
    assert found == ([], "spawner-1.0.dist-info")
    # The child sleeps 120 s holding the hook's output open; the answer did not wait.
    assert time.monotonic() - started < 60
    child = int((spawner / "SPAWN").read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
