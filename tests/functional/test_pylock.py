"""PEP 751 output: compile -o pylock.toml writes a valid pylock pair (checked against the
PEP's rules and packaging's validator), real pip installs pylock.toml, sync builds every
sdist against pylock.build.toml's pins, and check and why read the pair."""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.pylock import Pylock, is_valid_pylock_path
from packaging.utils import canonicalize_name

from lockbuild.target import current
from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario
from tests.helpers import lockbuild, run, write

WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
UPLOADED = "2024-05-01T12:30:00Z"
# PEP 751's top-level keys, and those of a package and of a file.
TOP_KEYS = {
    "lock-version",
    "environments",
    "requires-python",
    "extras",
    "dependency-groups",
    "default-groups",
    "created-by",
    "packages",
    "tool",
}
PACKAGE_KEYS = {
    "name",
    "version",
    "marker",
    "requires-python",
    "dependencies",
    "index",
    "vcs",
    "directory",
    "archive",
    "sdist",
    "wheels",
    "attestation-identities",
    "tool",
}
FILE_KEYS = {"name", "upload-time", "url", "path", "size", "hashes"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    add_abi_scenario(idx)  # abicore 1.0, 2.0 (wheels); abiext 1.0 (sdist, records abicore)
    idx.sdist(
        "abiext",
        "2.0",
        build_requires=["abicore>=2"],
        requires_dist=["abicore"],
        record_build_versions=["abicore"],
    )
    idx.wheel("plainwheel", "1.0")
    for path in idx.files:
        idx.upload_time(path.name, UPLOADED)
    idx.write()
    return idx


def _compile(tmp_path: Path, env: dict[str, str], url: str, *extra: str) -> str:
    args = ["compile", "--index-url", url, "--cache-dir", str(tmp_path / "cache"), *extra]
    return lockbuild(args, env, tmp_path).stderr


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _check_pep751(path: Path, index: FixtureIndex) -> dict[str, Any]:
    """The PEP's rules, as far as they concern what lockbuild writes."""
    data = _load(path)
    Pylock.from_dict(data)  # packaging's validator
    assert set(data) <= TOP_KEYS
    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "lockbuild"
    assert data["requires-python"] == "==3.11.*"
    env = dict(current().environment)
    assert [Marker(m).evaluate(env) for m in data["environments"]] == [True]
    names = [p["name"] for p in data["packages"]]
    assert names == sorted(names) and all(canonicalize_name(n) == n for n in names)
    files = {p.name: p for p in index.files}
    for package in data["packages"]:
        assert set(package) <= PACKAGE_KEYS
        entries = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert len(entries) == 1, package
        for entry in entries:
            assert set(entry) <= FILE_KEYS
            local = files[entry["name"]]
            assert entry["url"].endswith("/" + entry["name"])
            assert entry["hashes"] == {"sha256": hashlib.sha256(local.read_bytes()).hexdigest()}
            assert entry["size"] == local.stat().st_size
            assert entry["upload-time"].isoformat() == UPLOADED.replace("Z", "+00:00")
            assert entry["name"].startswith(f"{package['name']}-{package['version']}")
    return data


def test_compile_writes_a_valid_pylock_pair(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    write(tmp_path / "requirements.in", "abicore<2\nabiext\nplainwheel\n")
    stderr = _compile(tmp_path, env, server.url, "-o", "pylock.toml")
    assert "wrote pylock.toml (3 pins) and pylock.build.toml (1 build pins)" in stderr
    assert "abiext 1.0 (newest 2.0): abiext 2.0 (build) requires abicore>=2" in stderr
    lock_path, build_path = tmp_path / "pylock.toml", tmp_path / "pylock.build.toml"
    assert is_valid_pylock_path(lock_path)
    lock = _check_pep751(lock_path, index)
    build = _check_pep751(build_path, index)
    versions = {p["name"]: p["version"] for p in lock["packages"]}
    assert versions == {"abicore": "1.0", "abiext": "1.0", "plainwheel": "1.0"}
    kinds = {p["name"]: "sdist" if "sdist" in p else "wheels" for p in lock["packages"]}
    assert kinds == {"abicore": "wheels", "abiext": "sdist", "plainwheel": "wheels"}
    assert [(p["name"], p["version"]) for p in build["packages"]] == [("abicore", "1.0")]
    assert build["tool"]["lockbuild"]["builds"] == {"abiext 1.0": ["abicore==1.0"]}
    # The header says how to install, with and without lockbuild.
    text = lock_path.read_text()
    assert "#    lockbuild sync pylock.toml\n" in text
    assert "#    pip install --build-constraint pylock.build.txt -r pylock.toml" in text
    assert "#    uv pip install --build-constraints pylock.build.txt -r pylock.toml" in text
    # The text build file beside them holds the same build pins.
    twin = (tmp_path / "pylock.build.txt").read_text()
    assert "\nabicore==1.0\n" in twin and "PIP_CONSTRAINT" not in twin
    # A rerun writes the same bytes; check and why read the pair.
    before = {p.name: p.read_bytes() for p in tmp_path.glob("pylock.*")}
    _compile(tmp_path, env, server.url, "-o", "pylock.toml", "--no-replay")
    assert {p.name: p.read_bytes() for p in tmp_path.glob("pylock.*")} == before
    check = ["check", "--index-url", server.url, "-o", "pylock.toml"]
    ok = lockbuild(check, env, tmp_path, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "pylock.toml and pylock.build.toml are up to date" in ok.stdout
    why = lockbuild(["why", "abicore", "pylock.toml"], env, tmp_path).stdout.splitlines()
    assert why == [
        "requirements.in -> abicore",
        "requirements.in -> abiext (build) -> abicore",
        "requirements.in -> abiext -> abicore",
    ]
    why = lockbuild(["why", "abiext", "pylock.toml"], env, tmp_path).stdout.splitlines()
    assert why[-1].startswith("abiext 1.0 (newest 2.0): abiext 2.0 (build) requires abicore>=2")
    (tmp_path / "pylock.build.txt").unlink()
    missing = lockbuild(check, env, tmp_path, check=False)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        "lockbuild check: pylock.build.txt does not exist",
        f"run: lockbuild compile --index-url {server.url} -o pylock.toml",
    ]
    write(tmp_path / "requirements.in", "abicore<2\nabiext\n")
    stale = lockbuild(check, env, tmp_path, check=False)
    assert stale.returncode == 1
    assert stale.stderr.splitlines() == [
        "lockbuild check: requirements.in changed since the lock was compiled",
        "lockbuild check: pylock.build.txt does not exist",
        f"run: lockbuild compile --index-url {server.url} -o pylock.toml",
    ]


def test_named_pylock_and_config_output_file(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "plainwheel\n")
    _compile(tmp_path, env, server.url, "-o", "pylock.dev.toml")
    assert {p.name for p in tmp_path.glob("pylock.*")} == {
        "pylock.dev.toml",
        "pylock.dev.build.toml",
        "pylock.dev.build.txt",
    }
    other = tmp_path / "cfg"
    write(other / "requirements.in", "plainwheel\n")
    write(other / "pyproject.toml", '[tool.lockbuild]\noutput-file = "pylock.toml"\n')
    _compile(other, env, server.url)
    assert (other / "pylock.toml").is_file() and (other / "pylock.build.toml").is_file()
    assert not (other / "requirements.txt").exists()


def _venv_with_current_pip(path: Path, env: dict[str, str]) -> Path:
    wheels = sorted(WHEELHOUSE.glob("pip-*.whl"))
    if not wheels:
        pytest.fail(f"no pip wheel in {WHEELHOUSE}: run make install")
    run([sys.executable, "-m", "venv", "--without-pip", path], env)
    python = path / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index"]
        + ["--find-links", WHEELHOUSE, "pip"],
        env,
    )
    return python


BUILT_AGAINST = "import json, abiext; print(json.dumps(abiext.BUILT_AGAINST))"


@pytest.fixture(scope="module")
def pylock_project(
    tmp_path_factory: pytest.TempPathFactory, server: IndexServer, index: FixtureIndex
) -> Path:
    from tests.fixtures import isolated_env

    project = tmp_path_factory.mktemp("pylock-project")
    env = isolated_env(project)
    write(project / "requirements.in", "abicore<2\nabiext\n")
    _compile(project, env, server.url, "-o", "pylock.toml", "-q")
    return project


def test_real_pip_installs_pylock_toml(
    tmp_path: Path, env: dict[str, str], pylock_project: Path, server: IndexServer
) -> None:
    python = _venv_with_current_pip(tmp_path / "venv", env)
    run(
        [python, "-m", "pip", "install", "--index-url", server.url]
        + ["--build-constraint", "pylock.build.txt", "-r", "pylock.toml"],
        env,
        cwd=pylock_project,
    )
    out = run([python, "-c", BUILT_AGAINST], env).stdout
    assert json.loads(out) == {"abicore": "1.0"}
    listed = run([python, "-m", "pip", "list", "--format", "json"], env).stdout
    versions = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed)}
    assert versions["abicore"] == "1.0" and versions["abiext"] == "1.0"


def test_sync_pylock_builds_against_the_build_lock(
    tmp_path: Path, env: dict[str, str], pylock_project: Path, server: IndexServer
) -> None:
    python = _venv_with_current_pip(tmp_path / "venv", env)
    proc = lockbuild(
        ["sync", "pylock.toml", "--python", python, "--index-url", server.url, "-v"],
        env,
        pylock_project,
    )
    assert "--build-constraint" in proc.stdout + proc.stderr
    out = run([python, "-c", BUILT_AGAINST], env).stdout
    assert json.loads(out) == {"abicore": "1.0"}
    plan = lockbuild(["sync", "pylock.toml", "--python", python, "-n"], env, pylock_project)
    assert "abiext" not in plan.stdout  # in sync now: nothing to install


def test_a_pylock_file_that_is_not_valid(tmp_path: Path, env: dict[str, str]) -> None:
    write(tmp_path / "pylock.toml", 'lock-version = "1.0"\npackages = [{name = "x"}]\n')
    write(tmp_path / "pylock.build.toml", 'lock-version = "1.0"\n')
    proc = lockbuild(["why", "x", "pylock.toml"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("lockbuild: error: pylock.toml")
    assert "not a valid PEP 751 lock file" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "is_lock", "build", "text"),
    [
        ("pylock.toml", True, "pylock.build.toml", "pylock.build.txt"),
        ("pylock.dev.toml", True, "pylock.dev.build.toml", "pylock.dev.build.txt"),
        ("requirements.txt", False, None, None),
        ("pylock.a.b.toml", False, None, None),
        ("mylock.toml", False, None, None),
    ],
)
def test_pylock_names(name: str, is_lock: bool, build: str | None, text: str | None) -> None:
    from lockbuild.lock.formats import build_file_for, is_pylock, text_build_file_for

    path = Path("out") / name
    assert is_pylock(path) is is_lock
    if build is not None and text is not None:
        assert build_file_for(path) == Path("out") / build
        assert text_build_file_for(path) == Path("out") / text
    else:
        assert not build_file_for(path).name.endswith(".build.toml")
