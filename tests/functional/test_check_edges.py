"""check's edges: which lock a bare ``check`` or ``check FILE`` reads, what a stale
message names (the option and where its value comes from now), pip's configuration kept
out of a lock's identity (a note, not a failure), a byte order mark, and a file that is
not a lock."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario, isolated_env
from tests.helpers import lockbuild, write


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    add_abi_scenario(idx)
    idx.write()
    return idx


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> dict[str, Path]:
    """A project compiled into each format, alone in its directory."""
    root = tmp_path_factory.mktemp("compiled")
    env = isolated_env(root / "home")
    found = {}
    for lock in ("requirements.txt", "pylock.toml"):
        project = root / lock
        write(project / "requirements.in", "abiext\n")
        args = ["compile", "--index-url", server.url, "--cache-dir", root / "cache", "-q"]
        lockbuild([*args, "-o", lock], env, project)
        found[lock] = project
    return found


def _copy(compiled: dict[str, Path], lock: str, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(compiled[lock], root)
    return root


@pytest.mark.parametrize("lock", ["requirements.txt", "pylock.toml"])
@pytest.mark.parametrize("args", [[], ["LOCK"], ["-o", "LOCK"]])
def test_check_finds_the_pair_the_directory_holds(
    tmp_path: Path, env: dict[str, str], compiled: dict[str, Path], lock: str, args: list[str]
) -> None:
    root = _copy(compiled, lock, tmp_path)
    argv = ["check", *(lock if a == "LOCK" else a for a in args)]
    proc = lockbuild(argv, env, root, check=False)
    assert proc.returncode == 0, proc.stderr
    build = "pylock.build.toml" if lock == "pylock.toml" else "requirements-build.txt"
    assert proc.stdout == f"{lock} and {build} are up to date\n"
    assert proc.stderr == ""


@pytest.mark.parametrize("lock", ["requirements.txt", "pylock.build.txt"])
def test_a_byte_order_mark_is_accepted(
    tmp_path: Path, env: dict[str, str], compiled: dict[str, Path], lock: str
) -> None:
    root = _copy(compiled, "pylock.toml" if lock.startswith("pylock") else lock, tmp_path)
    path = root / lock
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    proc = lockbuild(["check"], env, root, check=False)
    assert proc.returncode == 0, proc.stderr
    main = "pylock.toml" if lock.startswith("pylock") else lock
    dry = lockbuild(["sync", main, "--python", "nowhere/python", "-n"], env, root, check=False)
    assert "nowhere/python" in dry.stderr and "edited" not in dry.stderr, dry.stderr


@pytest.mark.parametrize("args", [[], ["requirements.txt"]])
def test_a_plain_requirements_file_is_not_a_lock(
    tmp_path: Path, env: dict[str, str], args: list[str]
) -> None:
    write(tmp_path / "requirements.in", "abiext\n")
    write(tmp_path / "requirements.txt", "abiext==1.0\nabicore==2.0\n")
    before = (tmp_path / "requirements.txt").read_bytes()
    proc = lockbuild(["check", *args], env, tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "lockbuild: error: requirements.txt: not a lockfile written by lockbuild compile "
        "(no '# lockbuild-target:' header line)"
    ]
    assert (tmp_path / "requirements.txt").read_bytes() == before
    assert not (tmp_path / "requirements-build.txt").exists()


def test_stale_names_the_option_and_where_it_comes_from(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "abiext\n")
    write(tmp_path / "pyproject.toml", "[tool.lockbuild]\npre = false\n")
    args = ["--index-url", server.url, "--cache-dir", tmp_path / "cache", "-q"]
    lockbuild(["compile", *args], env, tmp_path)
    assert lockbuild(["check"], env, tmp_path, check=False).returncode == 0
    proc = lockbuild(["check", "--generate-hashes"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        "lockbuild check: --generate-hashes changed since the lock was compiled: "
        "now True (given on the command line)"
    )
    write(tmp_path / "pyproject.toml", "[tool.lockbuild]\npre = true\n")
    proc = lockbuild(["check"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        "lockbuild check: --pre changed since the lock was compiled: "
        "now True (set by [tool.lockbuild] in pyproject.toml)"
    )


@pytest.mark.parametrize("lock", ["requirements.txt", "pylock.toml"])
def test_pip_configuration_is_not_part_of_a_locks_identity(
    tmp_path: Path, env: dict[str, str], server: IndexServer, lock: str
) -> None:
    """A lock compiled where pip's configuration adds --find-links checks up to date on a
    machine without it (CI), with a note saying so; and the other way round."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write(tmp_path / "requirements.in", "abiext\n")
    args = ["compile", "--index-url", server.url, "--cache-dir", tmp_path / "cache", "-q"]
    lockbuild([*args, "-o", lock], {**env, "PIP_FIND_LINKS": str(wheels)}, tmp_path)
    assert f"--find-links {wheels.name}" in (tmp_path / lock).read_text()
    ci = lockbuild(["check", "-o", lock], env, tmp_path, check=False)
    assert ci.returncode == 0, ci.stderr
    assert ci.stderr.splitlines() == [
        f"lockbuild check: note: the lock was compiled with --find-links {wheels.name} "
        "(from pip's configuration there), which is not in effect here; pip's "
        "configuration is not part of a lock's identity, and sync uses the lock's options"
    ]
    other = tmp_path / "other"
    other.mkdir()
    dev = lockbuild(
        ["check", "-o", lock], {**env, "PIP_FIND_LINKS": str(other)}, tmp_path, check=False
    )
    assert dev.returncode == 0, dev.stderr
    assert (
        f"lockbuild check: note: --find-links {other.name} is in effect here (from the "
        "environment variable PIP_FIND_LINKS) but was not where the lock was compiled"
    ) in dev.stderr
