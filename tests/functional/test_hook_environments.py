"""The environments compile runs build backends in: installing one is bounded in time
like a hook, and the cutoff of --build-deps-as-of-release needs a pip that has
--uploaded-prior-to (checked through that pip's own --version)."""

from __future__ import annotations

import os
import sysconfig
import time
from pathlib import Path

import pytest
from packaging.version import Version

from lockbuild.build.environments import EnvironmentPool
from lockbuild.indexopts import IndexOptions
from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, new_venv, pins, run, write

STALLED = "/files/stalltool-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    meta = {"metadata_version": "2.1"}  # the metadata hook must run, in its environment
    idx.wheel("stalltool", "1.0")
    idx.sdist("stallpkg", "1.0", **meta)
    idx.sdist("stallpkg", "2.0", build_requires=["stalltool"], **meta)
    idx.wheel("buildtool", "1.0")
    idx.wheel("buildtool", "2.0")
    idx.upload_time("buildtool-1.0-py3-none-any.whl", "2020-06-01T00:00:00Z")
    idx.upload_time("buildtool-2.0-py3-none-any.whl", "2023-07-17T00:00:00Z")
    old = idx.sdist(
        "oldsdist",
        "1.0",
        build_requires=["buildtool"],
        fail_with_newer={"buildtool": "2.0"},
        **meta,
    )
    idx.upload_time(old.name, "2021-01-20T00:00:00Z")
    idx.write()
    return idx


def test_a_stalled_environment_install_rules_the_release_out(
    tmp_path: Path, server: IndexServer
) -> None:
    # The wheel the hook environment needs never comes in time (its metadata file does).
    server.faults[STALLED] = ("delay", 20)
    server.faults[STALLED + ".metadata"] = ("delay", 0)
    try:
        env = isolated_env(tmp_path, LOCKBUILD_HOOK_TIMEOUT="3")
        write(tmp_path / "requirements.in", "stallpkg\n")
        started = time.monotonic()
        proc = lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path)
        elapsed = time.monotonic() - started
    finally:
        server.faults.pop(STALLED, None)
        server.faults.pop(STALLED + ".metadata", None)
    assert pins(tmp_path / "requirements.txt") == {"stallpkg": "1.0"}
    assert (
        "ruled out stallpkg 2.0: installing build requirements stalltool: timed out after 3 s"
        in proc.stderr
    )
    # Without the bound the install would have finished once the 20 s delay was over.
    assert elapsed < 20, proc.stderr


def test_cutoff_through_a_current_pip(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    env["LOCKBUILD_HOOK_INSTALLER"] = "pip"  # this pip (26.3) has --uploaded-prior-to
    write(tmp_path / "requirements.in", "oldsdist\n")
    args = compile_args(server.url, tmp_path / "cache", "--build-deps-as-of-release")
    lockbuild(args, env, tmp_path)
    assert pins(tmp_path / "requirements-build.txt") == {"buildtool": "1.0"}


def test_cutoff_through_a_pip_without_uploaded_prior_to_is_one_line(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """lockbuild run by an interpreter whose pip is the one ensurepip bundles (older
    than 26.0); lockbuild and its dependencies come from this venv, after that pip."""
    python = new_venv(tmp_path / "oldpip", env, with_pip=True)
    found = run([python, "-m", "pip", "--version"], env).stdout
    version = Version(found.split()[1])
    if version >= Version("26.0"):
        pytest.skip(f"ensurepip here bundles {found.strip()}")
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env)
    ours = sysconfig.get_path("purelib")
    Path(site.stdout.strip(), "lockbuild-deps.pth").write_text(f"{ours}\n{Path.cwd()}\n")
    env["LOCKBUILD_HOOK_INSTALLER"] = "pip"
    write(tmp_path / "requirements.in", "oldsdist\n")
    args = compile_args(server.url, tmp_path / "cache", "--build-deps-as-of-release")
    proc = run([python, "-m", "lockbuild", *args], env, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "lockbuild: error: --build-deps-as-of-release: hook environments are filled by pip "
        f"here (pip {version}), which has no --uploaded-prior-to (pip 26.0 "
        "and later): upgrade pip or install uv"
    ]
    assert not (tmp_path / "requirements.txt").exists()


def test_hook_round_environments_are_shared_by_their_pins(
    tmp_path: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment holding exactly some pins (no dependencies: what a hook round asks
    for) is made once per run, whatever constraints each round passes; one that
    resolves dependencies is still made per constraint set."""
    isolated = isolated_env(tmp_path)
    for key in list(os.environ):
        if key not in isolated:
            monkeypatch.delenv(key)
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    pool = EnvironmentPool(IndexOptions(index_url=server.url))
    try:
        first = pool.get(["buildtool==1.0"], "one", constraints=["buildtool==1.0"], no_deps=True)
        later = ["buildtool==1.0", "stalltool==1.0"]
        assert pool.get(["buildtool==1.0"], "two", constraints=later, no_deps=True) is first
        other = pool.get(["buildtool==2.0"], "three", constraints=["buildtool==2.0"], no_deps=True)
        assert other is not first
        assert pool.get(["buildtool==1.0"], "four", constraints=later) is not first
        assert first.pins() == ("buildtool==1.0",)
    finally:
        pool.close()
    # close removes every environment (side by side) before it returns.
    for made in (first, other):
        assert not Path(made.python).parent.parent.exists()
