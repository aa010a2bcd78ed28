"""``lockbuild sync`` for pip-sync users: several lockfiles joined into one target state,
pip-sync's options with their meaning, real venvs with real pip and uv."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, run, write

UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.wheel("beta", "1.1")
    idx.wheel("delta", "1.0")
    idx.wheel("tool", "1.0", requires_dist=["delta"])
    # Built from its sdist by sync, against the build file's pins.
    idx.sdist("srcpkg", "1.0", build_requires=["delta"])
    idx.write()
    return idx


@pytest.fixture(scope="module")
def locks(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    """requirements.txt (runtime) and dev.txt (tools), each with its build file, and
    old.txt pinning beta 1.0 against requirements.txt's 1.1."""
    root = tmp_path_factory.mktemp("locks")
    env = isolated_env(root)
    write(root / "requirements.in", "alpha\nsrcpkg\n")
    write(root / "dev.in", "tool\n")
    write(root / "old.in", "beta==1.0\n")
    cache = root / "cache"
    lockbuild(compile_args(server.url, cache, "requirements.in"), env, root)
    lockbuild(compile_args(server.url, cache, "dev.in"), env, root)
    lockbuild(compile_args(server.url, cache, "old.in"), env, root)
    return root


def installed(python: Path, env: dict[str, str]) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = run([python, "-I", "-c", code], env).stdout
    return {canonicalize_name(k): v for k, v in json.loads(out).items()}


def venv(tmp_path: Path, env: dict[str, str]) -> Path:
    run([sys.executable, "-m", "venv", tmp_path / "venv"], env)
    return tmp_path / "venv" / "bin" / "python"


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_several_lockfiles_are_one_target_state(
    tmp_path: Path, locks: Path, installer: str
) -> None:
    env = isolated_env(tmp_path)
    python = venv(tmp_path, env)
    flags = ["--python-executable", str(python), "--installer", installer]
    if installer == "uv":
        env["PATH"] = f"{UV.parent}:{env['PATH']}"
    proc = lockbuild(["sync", "requirements.txt", "dev.txt", *flags, "-n"], env, locks)
    assert "would install srcpkg 1.0" in proc.stdout and "would install tool 1.0" in proc.stdout
    assert "nothing was changed" in proc.stdout
    assert "srcpkg" not in installed(python, env)

    lockbuild(["sync", "requirements.txt", "dev.txt", *flags], env, locks)
    got = installed(python, env)
    want = {"alpha": "1.0", "beta": "1.1", "srcpkg": "1.0", "tool": "1.0", "delta": "1.0"}
    assert {k: got.get(k) for k in want} == want

    # One of them alone: what only the other pins goes (pip-sync's meaning).
    lockbuild(["sync", "requirements.txt", *flags], env, locks)
    got = installed(python, env)
    assert "tool" not in got and "delta" not in got and got["srcpkg"] == "1.0"


def test_conflicting_pins_are_one_line_and_force_takes_the_later(
    tmp_path: Path, locks: Path
) -> None:
    env = isolated_env(tmp_path)
    python = venv(tmp_path, env)
    proc = lockbuild(
        ["sync", "requirements.txt", "old.txt", "--python", str(python)], env, locks, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "lockbuild: error: conflicting pins: beta==1.1 in requirements.txt, beta==1.0 in "
        "old.txt (--force: the later file wins)"
    ]
    assert "alpha" not in installed(python, env)
    proc = lockbuild(
        ["sync", "requirements.txt", "old.txt", "--force", "--python", str(python)], env, locks
    )
    assert "the later wins (--force)" in proc.stderr
    got = installed(python, env)
    assert got["beta"] == "1.0" and got["alpha"] == "1.0"


def test_ask_shows_the_plan_and_asks(tmp_path: Path, locks: Path) -> None:
    env = isolated_env(tmp_path)
    python = venv(tmp_path, env)
    argv = [sys.executable, "-m", "lockbuild", "sync", "dev.txt", "--ask", "--python", python]
    no = run(argv, env, cwd=locks, check=False, input="n\n")
    assert no.returncode == 1
    assert "would install tool 1.0" in no.stdout
    assert "Would you like to proceed with these changes?" in no.stdout
    assert "tool" not in installed(python, env)
    yes = run(argv, env, cwd=locks, input="y\n")
    assert "installed" in yes.stdout
    assert installed(python, env)["tool"] == "1.0"


def test_pip_args_cert_and_trusted_host_reach_pip(tmp_path: Path, locks: Path) -> None:
    env = isolated_env(tmp_path)
    python = venv(tmp_path, env)
    proc = lockbuild(
        [
            "sync",
            "dev.txt",
            "--python",
            str(python),
            "-v",
            "--pip-args",
            "--no-compile --progress-bar off",
            "--trusted-host",
            "127.0.0.1",
        ],
        env,
        locks,
    )
    running = [line for line in proc.stderr.splitlines() if " install " in line]
    assert running, proc.stderr
    assert "--no-compile --progress-bar off" in running[0]
    assert "--trusted-host 127.0.0.1" in running[0]
    assert installed(python, env)["tool"] == "1.0"
