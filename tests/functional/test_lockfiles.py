"""Checked-in lockfiles: hashes, pyproject input, check, why, --exclude-newer, stable diffs."""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, new_venv, pins, run, write

MINI_BACKEND = """
def get_requires_for_build_wheel(config_settings=None):
    return ["dynhelper"]


def get_requires_for_build_sdist(config_settings=None):
    return []
"""


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # Several files per version: two wheels and an sdist.
    idx.wheel("multi", "1.0")
    idx.wheel("multi", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    idx.sdist("multi", "1.0")
    idx.wheel("beta", "1.0")
    idx.wheel("gamma", "1.0")
    idx.wheel("delta", "1.0")
    idx.wheel("epsilon", "1.0")
    idx.wheel("buildhelper", "1.0")
    idx.wheel("dynhelper", "1.0")
    idx.wheel("numpyish", "1.0")
    idx.sdist("worldish", "1.0", build_requires=["numpyish"], requires_dist=["numpyish"])
    idx.sdist("onlybuilt", "1.0", build_requires=["buildhelper"])
    idx.wheel("timely", "1.0")
    idx.wheel("timely", "2.0")
    idx.upload_time("timely-1.0-py3-none-any.whl", "2024-01-01T00:00:00Z")
    idx.upload_time("timely-2.0-py3-none-any.whl", "2024-06-01T00:00:00Z")
    idx.write()
    return idx


def _compile(
    tmp_path: Path, env: dict[str, str], url: str, *extra: str, check: bool = True
) -> tuple[Path, Path, str]:
    proc = lockbuild(compile_args(url, tmp_path / "cache", *extra), env, tmp_path, check=check)
    return tmp_path / "requirements.txt", tmp_path / "requirements-build.txt", proc.stderr


def _hashes(path: Path) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            current = line.split("==")[0]
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            result.setdefault(current, set()).add(digest)
    return result


def test_hashes_cover_every_file_and_pip_checks_them(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    write(tmp_path / "requirements.in", "multi\nworldish\n")
    lock, build, _ = _compile(tmp_path, env, server.url, "--generate-hashes")
    from tests.fixtures.indexgen import sha256_file

    expected = {sha256_file(p) for p in index.find_links.glob("multi-1.0*")}
    assert len(expected) == 3
    assert _hashes(lock)["multi"] == expected
    assert _hashes(build)["numpyish"] == {
        sha256_file(index.find_links / "numpyish-1.0-py3-none-any.whl")
    }
    python = new_venv(tmp_path / "venv", env)
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-cache-dir"]
    args = ["--index-url", server.url, "--build-constraint", str(build), "--require-hashes"]
    run([*pip, *args, "-r", str(lock)], env)
    # Altering the hash of a single-file pin makes the same install fail.
    (good,) = _hashes(lock)["numpyish"]
    bad = tmp_path / "bad.txt"
    bad.write_text(lock.read_text().replace(good, "0" * 64))
    other = new_venv(tmp_path / "venv2", env)
    proc = run(
        [sys.executable, "-m", "pip", "--python", other, "install", "--no-cache-dir", *args]
        + ["-r", str(bad)],
        env,
        check=False,
    )
    assert proc.returncode != 0
    assert "hash" in (proc.stdout + proc.stderr).lower()


def _project(root: Path) -> Path:
    write(
        root / "pyproject.toml",
        """
[build-system]
requires = ["buildhelper"]
build-backend = "mini"
backend-path = ["_backend"]

[project]
name = "myproj"
version = "0.1"
dependencies = ["beta"]

[project.optional-dependencies]
fast = ["delta"]

[dependency-groups]
test = ["gamma", {include-group = "lint"}]
lint = ["epsilon"]
""",
    )
    write(root / "_backend" / "mini.py", MINI_BACKEND)
    return root / "pyproject.toml"


def test_pyproject_input_with_extras_groups_and_build_backend(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _project(tmp_path)
    lock, build, _ = _compile(
        tmp_path, env, server.url, "pyproject.toml", "--extra", "fast", "--group", "test"
    )
    assert pins(lock) == {"beta": "1.0", "delta": "1.0", "gamma": "1.0", "epsilon": "1.0"}
    # The project is built from source: its static and dynamic build requirements.
    assert pins(build) == {"buildhelper": "1.0", "dynhelper": "1.0"}
    text = lock.read_text()
    assert "# via myproj (pyproject.toml)" in text
    assert "pyproject.toml (group test)" in text
    assert "myproj (pyproject.toml) (build)" in build.read_text()
    lock, _, _ = _compile(tmp_path, env, server.url, "pyproject.toml", "--all-extras")
    assert pins(lock) == {"beta": "1.0", "delta": "1.0"}


def test_tool_lockbuild_config_and_unknown_key(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _project(tmp_path)
    with (tmp_path / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.lockbuild]\nextras = ["fast"]\ngenerate-hashes = true\n')
    lock, _, _ = _compile(tmp_path, env, server.url, "pyproject.toml")
    assert "delta" in pins(lock) and "--hash=sha256:" in lock.read_text()
    with (tmp_path / "pyproject.toml").open("a") as handle:
        handle.write("genrate-hashes = true\n")
    before = lock.read_bytes()
    proc = lockbuild(
        compile_args(server.url, tmp_path / "cache", "pyproject.toml"), env, tmp_path, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "lockbuild: error: pyproject.toml: [tool.lockbuild] unknown key 'genrate-hashes'; "
        "did you mean 'generate-hashes'?\n"
    )
    assert lock.read_bytes() == before


def test_check_fresh_edited_option_changed_and_offline(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    write(tmp_path / "requirements.in", "beta\nworldish\n")
    with IndexServer(index.root) as srv:
        url = srv.url
        _compile(tmp_path, env, url)
    # The server is gone: check must not need it.
    args = ["check", "--index-url", url, "--cache-dir", str(tmp_path / "cache")]
    proc = lockbuild(args, env, tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = lockbuild([*args, "--generate-hashes"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "lockbuild check: --generate-hashes changed since the lock was compiled: now True "
        "(given on the command line)",
        f"run: lockbuild compile --index-url {url} --generate-hashes",
    ]
    write(tmp_path / "requirements.in", "beta\nworldish\ngamma\n")
    proc = lockbuild(args, env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "lockbuild check: requirements.in changed since the lock was compiled",
        f"run: lockbuild compile --index-url {url}",
    ]


def test_check_detects_a_tampered_build_file(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "worldish\n")
    _, build, _ = _compile(tmp_path, env, server.url)
    build.write_text(build.read_text().replace("numpyish==1.0", "numpyish==9.0"))
    proc = lockbuild(
        ["check", "--index-url", server.url, "--cache-dir", str(tmp_path / "cache")],
        env,
        tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "lockbuild check: requirements-build.txt line 22 was edited after compile: numpyish==9.0",
        f"run: lockbuild compile --index-url {server.url}",
    ]


def test_why_build_only_and_both_ways(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "worldish\nonlybuilt\n")
    _compile(tmp_path, env, server.url)
    out = lockbuild(["why", "buildhelper"], env, tmp_path).stdout.splitlines()
    assert out == ["requirements.in -> onlybuilt (build) -> buildhelper"]
    out = lockbuild(["why", "numpyish"], env, tmp_path).stdout.splitlines()
    assert out == [
        "requirements.in -> worldish (build) -> numpyish",
        "requirements.in -> worldish -> numpyish",
    ]
    proc = lockbuild(["why", "nonesuch"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "lockbuild: error: nonesuch is not pinned in requirements.txt or requirements-build.txt\n"
    )


def test_exclude_newer_picks_older_release(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "timely\n")
    lock, _, _ = _compile(tmp_path, env, server.url)
    assert pins(lock) == {"timely": "2.0"}
    lock, _, _ = _compile(tmp_path, env, server.url, "--upgrade", "--exclude-newer", "2024-03-01")
    assert pins(lock) == {"timely": "1.0"}
    assert "--exclude-newer 2024-03-01" in lock.read_text()


def test_exclude_newer_admits_local_files_without_upload_times(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    """A file:// index gives no upload time: its files are admitted, as pip and uv do
    (remote ones are left out: test_exclude_newer)."""
    assert index.url.startswith("file:")
    write(tmp_path / "requirements.in", "timely\n")
    lock, _, stderr = _compile(tmp_path, env, index.url, "--exclude-newer", "2024-03-01")
    assert pins(lock) == {"timely": "2.0"} and "upload time" not in stderr


def test_one_line_change_gives_minimal_diff(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "beta\ngamma\nworldish\n")
    lock, build, _ = _compile(tmp_path, env, server.url)
    before = lock.read_text().splitlines()
    build_before = build.read_text()
    write(tmp_path / "requirements.in", "beta\ngamma\ndelta\nworldish\n")
    _compile(tmp_path, env, server.url)
    after = lock.read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # The new pin and its annotation, the input file's digest in the header, and the
    # digest of the build file (whose header holds the input's digest too).
    header = [
        next(line for line in changed if line.startswith(f"{sign}# lockbuild-{key}"))
        for sign in "+-"
        for key in ("inputs: requirements.in", "build-digest")
    ]
    assert sorted(changed) == sorted(["+delta==1.0", "+    # via -r requirements.in", *header])
    assert build.read_text().count("\n") == build_before.count("\n")


def test_crlf_line_endings_are_kept(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "beta\n")
    lock, _, _ = _compile(tmp_path, env, server.url)
    lock.write_bytes(lock.read_bytes().replace(b"\n", b"\r\n"))
    _compile(tmp_path, env, server.url)
    data = lock.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") > 0
