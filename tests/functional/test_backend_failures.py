"""Build backends that fail, hang, leave children behind, answer nonsense or break under
a newer build tool: each rules out its release, the resolver goes on, and the user reads
one line per ruled-out release. Real lockbuild, real uv, a loopback index."""

from __future__ import annotations

import bz2
import gzip
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, pins, write

OLD = "2021-01-20T00:00:00Z"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # Metadata-Version 2.1: lockbuild must run prepare_metadata_for_build_wheel.
    meta = {"metadata_version": "2.1"}
    idx.sdist("brokenmeta", "1.0", **meta)
    idx.sdist("brokenmeta", "2.0", misbehave={"prepare_metadata_for_build_wheel": "fail"}, **meta)
    for version in ("1.0", "2.0"):
        idx.sdist(
            "allbroken", version, misbehave={"prepare_metadata_for_build_wheel": "fail"}, **meta
        )
    idx.sdist("hangpkg", "1.0", **meta)
    idx.sdist("hangpkg", "2.0", misbehave={"prepare_metadata_for_build_wheel": "hang"}, **meta)
    idx.sdist("spawnpkg", "1.0", misbehave={"prepare_metadata_for_build_wheel": "spawn"}, **meta)
    # PKG-INFO is usable here: the failure comes from get_requires_for_build_wheel.
    idx.sdist("dynbroken", "1.0")
    idx.sdist("dynbroken", "2.0", misbehave={"get_requires_for_build_wheel": "fail"})
    idx.sdist("dynhang", "1.0")
    idx.sdist("dynhang", "2.0", misbehave={"get_requires_for_build_wheel": "hang"})
    idx.sdist("badanswer", "1.0")
    idx.sdist("badanswer", "2.0", misbehave={"get_requires_for_build_wheel": "invalid"})
    # An old sdist that breaks under the newer release of its build tool.
    idx.wheel("buildtool", "1.0")
    idx.wheel("buildtool", "2.0")
    idx.upload_time("buildtool-1.0-py3-none-any.whl", "2020-06-01T00:00:00Z")
    idx.upload_time("buildtool-2.0-py3-none-any.whl", "2023-07-17T00:00:00Z")
    old = idx.sdist(
        "oldsdist",
        "1.0",
        build_requires=["buildtool"],
        fail_with_newer={"buildtool": "2.0"},
        record_build_versions=["buildtool"],
        **meta,
    )
    idx.upload_time(old.name, OLD)
    # Legacy file names: the version is the rest of the stem (pip reads them so).
    idx.sdist("pybbox", "0.0.5-alpha", fmt="zip")
    tgz = idx.sdist("oldbz", "1.0")
    bz2_path = tgz.with_name("oldbz-1.0.tar.bz2")
    bz2_path.write_bytes(bz2.compress(gzip.decompress(tgz.read_bytes())))
    idx.remove(tgz.name)
    idx.add(bz2_path)
    # The backend's answer depends on the Python it runs on.
    idx.wheel("pyhelper", "1.0")
    idx.sdist("pyverpkg", "1.0", dynamic_for_running_python=["pyhelper"])
    idx.write()
    return idx


def _compile(
    tmp_path: Path, env: dict[str, str], url: str, text: str, *extra: str, check: bool = True
) -> tuple[int, str]:
    write(tmp_path / "requirements.in", text)
    proc = lockbuild(compile_args(url, tmp_path / "cache", *extra), env, tmp_path, check=check)
    return proc.returncode, proc.stderr


def _log_of(stderr: str) -> Path:
    return Path(stderr.split("(full log: ", 1)[1].split(")", 1)[0])


def test_failing_metadata_hook_falls_back_to_an_older_release(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, "brokenmeta\n")
    assert code == 0
    assert pins(tmp_path / "requirements.txt") == {"brokenmeta": "1.0"}
    notices = [line for line in stderr.splitlines() if "ruled out" in line]
    assert len(notices) == 1, stderr
    assert notices[0].startswith(
        "lockbuild: note: ruled out brokenmeta 2.0: prepare_metadata_for_build_wheel: failed: "
        "RuntimeError: lbbackend: prepare_metadata_for_build_wheel of brokenmeta 2.0 failed"
    )
    # The full log is kept: the backend's own traceback.
    assert "Traceback" in _log_of(notices[0]).read_text()


def test_all_releases_failing_is_one_error_listing_each(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, "allbroken\n", check=False)
    assert code == 1
    assert "Traceback" not in stderr and " | " not in stderr
    lines = stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("lockbuild: error:"))
    assert lines[first] == (
        "lockbuild: error: cannot resolve: no usable release of allbroken: the build "
        "backend failed for every release that fits:"
    )
    lines = lines[first:]
    for version in ("2.0", "1.0"):
        assert any(
            line.startswith(f"  ruled out allbroken {version}: prepare_metadata_for_build_wheel")
            and "failed" in line
            for line in lines
        ), stderr
    assert not (tmp_path / "requirements.txt").exists()


def test_hung_metadata_hook_times_out_and_is_ruled_out(tmp_path: Path, server: IndexServer) -> None:
    env = isolated_env(tmp_path, LOCKBUILD_HOOK_TIMEOUT="3")
    started = time.monotonic()
    code, stderr = _compile(tmp_path, env, server.url, "hangpkg\n")
    # The hook sleeps forever: only the timeout ends it (a generous bound, not a timing).
    assert time.monotonic() - started < 120
    assert code == 0
    assert pins(tmp_path / "requirements.txt") == {"hangpkg": "1.0"}
    assert "ruled out hangpkg 2.0: prepare_metadata_for_build_wheel: timed out after 3 s" in (
        stderr
    )


def test_hung_get_requires_hook_times_out_and_is_ruled_out(
    tmp_path: Path, server: IndexServer
) -> None:
    env = isolated_env(tmp_path, LOCKBUILD_HOOK_TIMEOUT="3")
    started = time.monotonic()
    code, stderr = _compile(tmp_path, env, server.url, "dynhang\n")
    assert time.monotonic() - started < 120
    assert code == 0, stderr
    assert pins(tmp_path / "requirements.txt") == {"dynhang": "1.0"}
    assert "ruled out dynhang 2.0: get_requires_for_build_wheel: timed out after 3 s" in stderr


def test_malformed_hook_timeout_is_a_usage_error(tmp_path: Path, server: IndexServer) -> None:
    env = isolated_env(tmp_path, LOCKBUILD_HOOK_TIMEOUT="soon")
    code, stderr = _compile(tmp_path, env, server.url, "brokenmeta\n", check=False)
    assert code == 2
    assert "LOCKBUILD_HOOK_TIMEOUT: expected a positive number, got 'soon'" in stderr


def test_background_child_of_a_hook_does_not_hold_compile(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    started = time.monotonic()
    code, _ = _compile(tmp_path, env, server.url, "spawnpkg\n")
    # The child sleeps 120 s with the hook's output open.
    assert time.monotonic() - started < 100
    assert code == 0
    assert pins(tmp_path / "requirements.txt") == {"spawnpkg": "1.0"}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dynbroken", "get_requires_for_build_wheel: failed: RuntimeError: lbbackend:"),
        ("badanswer", "get_requires_for_build_wheel: returned dict, not a list"),
    ],
)
def test_get_requires_failure_or_invalid_answer_rules_out(
    tmp_path: Path, env: dict[str, str], server: IndexServer, name: str, reason: str
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, f"{name}\n")
    assert code == 0, stderr
    assert pins(tmp_path / "requirements.txt") == {name: "1.0"}
    assert f"ruled out {name} 2.0: {reason}" in stderr


def test_newer_build_tool_breaks_old_sdist_error_suggests_the_way_out(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, "oldsdist\n", check=False)
    assert code == 1
    assert "ruled out oldsdist 1.0: get_requires_for_build_wheel: failed: AttributeError: " in (
        stderr
    )
    assert "buildtool 2.0 is too new for this old sdist" in stderr
    assert "--build-constraint" in stderr and "--build-deps-as-of-release" in stderr


def test_build_override_reaches_the_metadata_hook(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "overrides.txt", "buildtool<2\n")
    write(tmp_path / "requirements.in", "oldsdist\n")
    args = compile_args(server.url, tmp_path / "cache", "--build-constraint", "overrides.txt")
    proc = lockbuild([a for a in args if a != "-q"] + ["-v"], env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"oldsdist": "1.0"}
    assert pins(tmp_path / "requirements-build.txt") == {"buildtool": "1.0"}
    # -v says what went into the environment the metadata hook ran in.
    assert (
        "oldsdist-1.0.tar.gz: metadata prepared in an environment from buildtool; "
        "constraints buildtool<2; holding buildtool==1.0"
    ) in proc.stderr


def test_build_deps_as_of_release_chooses_the_older_tool(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, "oldsdist\n", "--build-deps-as-of-release")
    assert code == 0, stderr
    assert pins(tmp_path / "requirements-build.txt") == {"buildtool": "1.0"}
    build = (tmp_path / "requirements-build.txt").read_text()
    assert "# lockbuild-build-deps-as-of-release: on" in build
    # The same from [tool.lockbuild].
    other = tmp_path / "cfg"
    write(other / "pyproject.toml", "[tool.lockbuild]\nbuild-deps-as-of-release = true\n")
    code, stderr = _compile(other, env, server.url, "oldsdist\n")
    assert code == 0, stderr
    assert pins(other / "requirements-build.txt") == {"buildtool": "1.0"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [("pybbox==0.0.5-alpha\n", {"pybbox": "0.0.5a0"}), ("oldbz\n", {"oldbz": "1.0"})],
)
def test_legacy_sdist_file_names(
    tmp_path: Path, env: dict[str, str], server: IndexServer, line: str, expected: dict[str, str]
) -> None:
    code, stderr = _compile(tmp_path, env, server.url, line)
    assert code == 0, stderr
    assert pins(tmp_path / "requirements.txt") == expected


def _python312() -> str | None:
    for found in sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")):
        return str(found)
    return shutil.which("python3.12")


def test_hooks_for_another_target_run_there_or_say_where_they_ran(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """The same sdist, one cache: a described target (hooks can only run here, and the
    build file says so), then the target's own interpreter (hooks run there, and the
    answer computed here is not reused for it)."""
    if sys.version_info[:2] == (3, 12):
        pytest.skip("needs a Python other than 3.12 to run lockbuild")
    other = _python312()
    if other is None:
        pytest.skip("no Python 3.12 on this machine")
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    described = tmp_path / "described"
    write(described / "requirements.in", "pyverpkg\n")
    args = compile_args(server.url, tmp_path / "cache", "--python-version", "3.12")
    proc = lockbuild(args, env, described)
    build = (described / "requirements-build.txt").read_text()
    # The hook ran on this host's Python: its marker excludes the requirement for 3.12.
    assert pins(described / "requirements-build.txt") == {}
    line = next(x for x in build.splitlines() if "lockbuild-hooks-ran-on-this-host" in x)
    assert (
        f'pyverpkg 1.0 get_requires_for_build_wheel -> pyhelper; python_version == "{here}"' in line
    )
    assert f"ran on cpython {here}" in line
    assert "note: computed on this host, not on cpython 3.12" in proc.stderr

    interp = tmp_path / "interpreter"
    write(interp / "requirements.in", "pyverpkg\n")
    proc = lockbuild(compile_args(server.url, tmp_path / "cache", "--python", other), env, interp)
    assert pins(interp / "requirements-build.txt") == {"pyhelper": "1.0"}
    assert "lockbuild-hooks-ran-on-this-host" not in (interp / "requirements-build.txt").read_text()
    assert "computed on this host" not in proc.stderr
