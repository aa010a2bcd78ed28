"""lockbuild sync: the lock pair installed into real venvs by real pip and uv, hermetically.

Every installer and lockbuild subprocess runs with ``isolated_env``: no PIP_*/UV_* from
the machine, ``PIP_CONFIG_FILE=/dev/null`` and its own pip, uv and lockbuild caches.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild import indexopts
from lockbuild.errors import UsageError
from lockbuild.lock import pair as pairs
from lockbuild.lock.formats import read_lock
from lockbuild.lock.model import LockedFile, LockedPin, pins_digest
from lockbuild.spec import IndexOptions
from lockbuild.sync import buildjob, diagnosis, interpreter
from lockbuild.sync import installer as installers
from lockbuild.sync import plan as plans
from lockbuild.sync import run as sync
from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario, isolated_env
from tests.helpers import lockbuild, resign_pair, run

BIN = Path(sys.executable).parent
UV = BIN / "uv"
BUILT_AGAINST = "import json, abiext; print(json.dumps(abiext.BUILT_AGAINST))"


# --------------------------------------------------------------------------- helpers


def make_env(tmp: Path, **extra: str | None) -> dict[str, str]:
    return isolated_env(tmp, LOCKBUILD_CACHE_DIR=str(tmp / ".tool-cache" / "lockbuild"), **extra)


def new_venv(path: Path, env: dict[str, str], *, with_pip: bool = True) -> Path:
    """A fresh venv; with pip it gets the pip that ensurepip bundles (no network)."""
    run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), path], env)
    return path / "bin" / "python"


def installed(python: Path, env: dict[str, str]) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = run([python, "-I", "-c", code], env).stdout
    return {canonicalize_name(k): v for k, v in json.loads(out).items()}


def built_against(python: Path, env: dict[str, str]) -> dict[str, str]:
    proc = run([python, "-c", BUILT_AGAINST], env, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def pip_version(python: Path, env: dict[str, str]) -> Version:
    return Version(run([python, "-m", "pip", "--version"], env).stdout.split()[1])


def copy_project(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def wheel_from_installed(dist_name: str, dest: Path) -> Path:
    """Rebuild the wheel of an installed distribution from its RECORD (no network).

    Used to put a current pip into a fresh venv: the one lockbuild's own venv runs.
    """
    dist = importlib.metadata.distribution(dist_name)
    files = [
        f
        for f in dist.files or []
        if not str(f).startswith("..")
        and "__pycache__" not in f.parts
        and f.name not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
    ]
    info_dir = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{dist_name}-{dist.version}-py3-none-any.whl"
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in files:
            data = Path(str(dist.locate_file(item))).read_bytes()
            archive.writestr(str(item), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{item},sha256={digest.decode()},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return wheel


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("sync-index"))
    add_abi_scenario(idx)
    idx.wheel("extra1", "1.0")
    # metadata prepares fine, the wheel build fails: a build-time-only failure
    idx.sdist(
        "brokenext",
        "1.0",
        build_requires=["abicore"],
        record_build_versions=["abicore", "notthere"],
    )
    idx.write()
    return idx


def _compiled(factory: pytest.TempPathFactory, server: IndexServer, *flags: str) -> Path:
    """requirements.in (abicore==1.0, abiext) compiled into a lock pair in a new dir."""
    root = factory.mktemp("sync-project")
    (root / "requirements.in").write_text("abicore==1.0\nabiext\n")
    env = make_env(root.parent / f"{root.name}-tools")
    cache = root.parent / f"{root.name}-cache"
    lockbuild(["compile", *flags, "--index-url", server.url, "--cache-dir", cache], env, root)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    """The lock pair, compiled once."""
    root = _compiled(tmp_path_factory, server, "requirements.in")
    build = read_lock(root / "requirements-build.txt")
    assert [(p.name, p.version) for p in build.pins.values()] == [("abicore", "1.0")]
    return root


@pytest.fixture(scope="module")
def hashed_project(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    """The same inputs compiled with --generate-hashes: both files carry --hash."""
    root = _compiled(tmp_path_factory, server, "--generate-hashes")
    for name in ("requirements.txt", "requirements-build.txt"):
        assert all(pin.hashes for pin in read_lock(root / name).pins.values())
    return root


@pytest.fixture(scope="module")
def old_pip_synced(
    tmp_path_factory: pytest.TempPathFactory, project: Path
) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
    """A `python -m venv` venv (ensurepip's pip, older than 25.3) synced once, with a
    user PIP_CONSTRAINT that must be kept."""
    tmp = tmp_path_factory.mktemp("old-pip")
    mine = tmp / "mine.txt"
    mine.write_text("abicore<3\n")
    env = make_env(tmp)
    python = new_venv(tmp / "venv", env)
    if pip_version(python, env) >= installers.PIP_BUILD_CONSTRAINT:
        pytest.skip("ensurepip here bundles pip >= 25.3: no old pip to test with")
    proc = lockbuild(
        ["sync", "--python", python, "-v"], {**env, "PIP_CONSTRAINT": str(mine)}, project
    )
    return python, env, proc


# --------------------------------------------------------------------------- ABI scenario


def test_abi_old_pip_gets_pip_constraint(
    old_pip_synced: tuple[Path, dict[str, str], subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    python, env, proc = old_pip_synced
    assert "build constraints via PIP_CONSTRAINT" in proc.stdout
    # the user's PIP_CONSTRAINT is joined with the build file, not replaced
    line = next(x for x in proc.stderr.splitlines() if x.startswith("lockbuild: PIP_CONSTRAINT="))
    files = line.split("=", 1)[1].split()
    assert files[0].endswith("mine.txt") and files[1].endswith("requirements-build.txt")
    assert built_against(python, env) == {"abicore": "1.0"}
    assert installed(python, env)["abicore"] == "1.0"


@pytest.fixture(scope="module")
def current_pip_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("pip-wheel")
    wheel_from_installed("pip", wheels)
    return wheels


@pytest.mark.parametrize("hashes", [False, True], ids=["plain", "hashes"])
def test_abi_current_pip_gets_build_constraint(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    index: FixtureIndex,
    current_pip_wheels: Path,
    hashes: bool,
) -> None:
    if Version(importlib.metadata.version("pip")) < installers.PIP_BUILD_CONSTRAINT:
        pytest.skip("lockbuild's own pip is older than 25.3")
    project: Path = request.getfixturevalue("hashed_project" if hashes else "project")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    # lockbuild's venv pip installs a wheel of itself into the bare venv: no network
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index"]
        + ["--find-links", current_pip_wheels, "pip"],
        env,
    )
    assert pip_version(python, env) >= installers.PIP_BUILD_CONSTRAINT
    # A wheel of abiext built against abicore 2.0 sits in pip's own cache already.
    scratch = new_venv(tmp_path / "scratch", env, with_pip=False)
    run(
        [sys.executable, "-m", "pip", "--python", scratch, "install", "--no-index"]
        + ["--find-links", index.find_links, "abiext", "abicore==2.0"],
        env,
    )
    assert built_against(scratch, env) == {"abicore": "2.0"}

    proc = lockbuild(["sync", "--python", python, "-v"], env, project)
    assert "build constraints via --build-constraint" in proc.stdout
    running = [x for x in proc.stderr.splitlines() if x.startswith("lockbuild: running:")]
    assert len(running) == 1 and "--build-constraint" in running[0]
    assert "PIP_CONSTRAINT" not in proc.stderr and "not hash-checked" not in proc.stderr
    assert built_against(python, env) == {"abicore": "1.0"}
    assert set(installed(python, env)) == {"abicore", "abiext", "pip"}


def test_hashed_lock_with_old_pip(tmp_path: Path, hashed_project: Path) -> None:
    """pip < 25.3 fails every build when PIP_CONSTRAINT names a file with hashes: sync
    passes it a hash-free copy; the sdist is built by lockbuild itself, in a build
    environment filled with --require-hashes, so nothing goes unchecked (no warning),
    and the runtime pins are hash-checked by pip."""
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    if pip_version(python, env) >= installers.PIP_BUILD_CONSTRAINT:
        pytest.skip("ensurepip here bundles pip >= 25.3: no old pip to test with")
    proc = lockbuild(["sync", "--python", python, "-v"], env, hashed_project)
    assert "not hash-checked" not in proc.stderr
    assert "built abiext 1.0 against abicore==1.0" in proc.stdout
    joined = next(x for x in proc.stderr.splitlines() if x.startswith("lockbuild: PIP_CONSTRAINT="))
    assert joined.endswith("build-constraints.txt")  # the copy, not the hashed file
    assert built_against(python, env) == {"abicore": "1.0"}

    # the runtime install really is hash-checked: a wrong hash is refused
    broken = copy_project(hashed_project, tmp_path / "broken")
    lock = broken / "requirements.txt"
    text = lock.read_text()
    digest = read_lock(lock).pins[canonicalize_name("abicore")].hashes[0]
    lock.write_text(text.replace(digest, "0" * 64))
    run([python, "-m", "pip", "uninstall", "-y", "abicore"], env)
    # an edited hash: the pair no longer matches, sync refuses before anything runs
    proc = lockbuild(["sync", "--python", python], env, broken, check=False)
    assert proc.returncode == 1
    assert "requirements.txt line " in proc.stderr and "was edited after compile" in proc.stderr
    assert "0" * 64 in proc.stderr
    # with the digests recomputed to match, pip itself refuses the wrong hash
    resign_pair(lock, broken / "requirements-build.txt")
    proc = lockbuild(["sync", "--python", python], env, broken, check=False)
    assert proc.returncode == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in proc.stderr
    assert "nothing was uninstalled" in proc.stderr
    Path(proc.stderr.rsplit("full log: ", 1)[1].strip()).unlink()


def test_abi_uv(tmp_path: Path, project: Path, index: FixtureIndex) -> None:
    if not UV.exists():
        pytest.skip("uv is not installed beside lockbuild")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    # uv's cache already holds an abiext wheel built against abicore 2.0
    scratch = new_venv(tmp_path / "scratch", env, with_pip=False)
    run(
        [UV, "pip", "install", "--python", scratch, "--no-index"]
        + ["--find-links", index.find_links, "abiext", "abicore==2.0"],
        env,
    )
    assert built_against(scratch, env) == {"abicore": "2.0"}

    proc = lockbuild(["sync", "--python", python, "--installer", "uv", "-v"], env, project)
    assert "with uv " in proc.stdout and "via --build-constraints" in proc.stdout
    running = [x for x in proc.stderr.splitlines() if x.startswith("lockbuild: running:")]
    assert len(running) == 1 and "--build-constraints" in running[0]
    assert f"--python {python}" in running[0]
    assert built_against(python, env) == {"abicore": "1.0"}
    assert set(installed(python, env)) == {"abicore", "abiext"}


# --------------------------------------------------------------------------- pip-sync semantics


def test_sync_semantics_and_dry_run(
    old_pip_synced: tuple[Path, dict[str, str], subprocess.CompletedProcess[str]],
    project: Path,
    index: FixtureIndex,
    server: IndexServer,
) -> None:
    python, env, _ = old_pip_synced
    venv = python.parent.parent
    # an unlisted package and a wrong version of a listed one
    run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index"]
        + ["--find-links", index.find_links, "extra1==1.0", "abicore==2.0"],
        env,
    )
    before = installed(python, env)
    assert before["abicore"] == "2.0" and before["extra1"] == "1.0"
    record = next(venv.glob("lib/python*/site-packages/abiext-1.0.dist-info/RECORD"))
    stamp = record.stat().st_mtime_ns, record.stat().st_ino

    proc = lockbuild(["sync", "--python", python, "--dry-run"], env, project)
    assert "would downgrade abicore 2.0 -> 1.0" in proc.stdout
    assert "would remove extra1 1.0" in proc.stdout
    assert "abiext" not in proc.stdout  # matching: left alone
    removals = [x.split()[2] for x in proc.stdout.splitlines() if "would remove" in x]
    assert removals == ["extra1"]  # the installer's tooling is kept
    assert "nothing was changed" in proc.stdout
    assert installed(python, env) == before

    proc = lockbuild(["sync", "--python", python], env, project)
    assert "1 downgraded, 1 removed, 1 unchanged; verified" in proc.stdout
    after = installed(python, env)
    assert after["abicore"] == "1.0" and "extra1" not in after
    assert {"pip", "setuptools"} <= set(after)  # the installer's tooling stays
    assert (record.stat().st_mtime_ns, record.stat().st_ino) == stamp  # not reinstalled
    assert built_against(python, env) == {"abicore": "1.0"}

    # in sync: nothing to do, no installer run, no index request
    server.clear()
    proc = lockbuild(["sync", "--python", python, "-v"], env, project)
    assert "nothing to do" in proc.stdout
    assert "lockbuild: running:" not in proc.stderr
    assert server.requests == []
    assert installed(python, env) == after


# --------------------------------------------------------------------------- failures


# A failing build (pip and uv) is in tests/functional/test_sync_builds.py: lockbuild builds sdists
# itself before the installer runs.


# --------------------------------------------------------------------------- guards


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("requirements-build.txt", "requirements-build.txt line "),
        ("requirements.txt", "requirements.txt line "),
    ],
)
def test_guard_refuses_mismatched_pair(
    tmp_path: Path, project: Path, edit: str, expected: str
) -> None:
    root = copy_project(project, tmp_path / "p")
    path = root / edit
    path.write_text(path.read_text().replace("abicore==1.0", "abicore==2.0"))
    env = make_env(tmp_path)
    proc = lockbuild(
        ["sync", "--python", tmp_path / "nowhere" / "python", "--dry-run"], env, root, check=False
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"lockbuild: error: {expected}")
    assert "was edited after compile: abicore==2.0" in lines[0]
    assert "recompile both with: lockbuild compile requirements.in --index-url" in lines[0]


def test_guard_refuses_changed_input(tmp_path: Path, project: Path) -> None:
    root = copy_project(project, tmp_path / "p")
    env = make_env(tmp_path)
    nowhere = tmp_path / "nowhere" / "python"
    with (root / "requirements.in").open("a") as handle:
        handle.write("extra1\n")
    proc = lockbuild(["sync", "--python", nowhere, "--dry-run"], env, root, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "lockbuild: error: requirements.in changed since requirements.txt was compiled; "
        "recompile with: lockbuild compile requirements.in"
    )
    # inputs that are not at hand are not compared: the pair alone is enough
    (root / "requirements.in").unlink()
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    proc = lockbuild(["sync", "--python", python, "--dry-run", "--installer", "uv"], env, root)
    assert "would install abicore 1.0" in proc.stdout


def test_refuses_base_interpreter_without_system(tmp_path: Path, project: Path) -> None:
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not base.exists() or Path(sys.base_prefix) == Path(sys.prefix):
        pytest.skip("no base interpreter apart from this venv")
    env = make_env(tmp_path)
    proc = lockbuild(["sync", "--python", base, "--dry-run"], env, project, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is not a virtual environment" in lines[0] and "--system" in lines[0]
    assert proc.stdout == ""


def test_no_active_venv_is_an_error(tmp_path: Path, project: Path) -> None:
    env = make_env(tmp_path)  # VIRTUAL_ENV is removed by isolated_env
    proc = lockbuild(["sync", "--dry-run"], env, project, check=False)
    assert proc.returncode == 2
    assert "no virtual environment is active" in proc.stderr


def test_active_venv_is_the_default_target(tmp_path: Path, project: Path) -> None:
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    proc = lockbuild(["sync", "--dry-run", "--installer", "uv"], env, project)
    assert f"to {python.parent.parent} (Python" in proc.stdout


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("requirements.in", None, "requirements.in is not a lockfile (line 2: not a pinned"),
        ("requirements-build.txt", None, "is a build constraints file, not a lockfile"),
        ("notes.txt", "# just a comment\n", "is not a lockfile written by lockbuild compile"),
        ("binary.txt", "\udcff", "is not a lockfile (cannot read lockfile"),
        ("missing.txt", "", "missing.txt: no such lockfile"),
    ],
)
def test_not_a_lockfile(
    tmp_path: Path, project: Path, name: str, content: str | None, expected: str
) -> None:
    root = copy_project(project, tmp_path / "p")
    if content == "\udcff":
        (root / name).write_bytes(b"\xff\xfe\x00garbage")
    elif content:
        (root / name).write_text(content)
    env = make_env(tmp_path)
    proc = lockbuild(["sync", name, "--python", tmp_path / "nowhere"], env, root, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lockbuild: error: ")
    assert expected in lines[0]


# --------------------------------------------------------------------------- units


def _pin(name: str, version: str, line: str = "", via: tuple[str, ...] = ()) -> LockedPin:
    return LockedPin(canonicalize_name(name), version, line or f"{name}=={version}", via)


def _locked(path: Path, *pins: LockedPin, options: Sequence[str] = ()) -> LockedFile:
    return LockedFile(path, {p.name: p for p in pins}, list(options))


def _env(*dists: interpreter.Installed) -> interpreter.Environment:
    markers = (("python_version", "3.11"), ("sys_platform", "linux"))
    return interpreter.Environment("/v/bin/python", "/v", True, markers, dists)


def _dist(name: str, version: str, *requires: str) -> interpreter.Installed:
    return interpreter.Installed(canonicalize_name(name), version, requires)


def test_make_plan() -> None:
    locked = _locked(
        Path("requirements.txt"),
        _pin("same", "1.0"),
        _pin("same-normalized", "1.0"),
        _pin("up", "2.0"),
        _pin("down", "1.0"),
        _pin("new", "3.0"),
        _pin("other-os", "1.0", 'other-os==1.0 ; sys_platform == "win32"'),
    )
    env = _env(
        _dist("same", "1.0"),
        _dist("same-normalized", "1.0.0"),
        _dist("up", "1.5"),
        _dist("down", "1.1"),
        _dist("extra", "0.1"),
        _dist("other-os", "1.0"),
        _dist("pip", "23.2.1"),
    )
    plan = plans.make_plan(locked, env, interpreter.protected_names(env, "pip"))
    assert [c.describe() for c in plan.changes] == [
        "downgrade down 1.1 -> 1.0",
        "install new 3.0",
        "upgrade up 1.5 -> 2.0",
        "remove extra 0.1",
        "remove other-os 1.0",
    ]
    assert plan.unchanged == ("same", "same-normalized")
    assert plan.kept == ("pip",)
    assert [c.name for c in plan.installs] == ["down", "new", "up"]
    assert plan.counts()["remove"] == 2


def test_direct_references_match_their_installed_url() -> None:
    """The lockfile's fragment (#egg=, #sha256=) is not part of the installed URL."""
    locked = _locked(
        Path("requirements.txt"),
        _pin("proj", "", "-e file:///src/proj#egg=proj"),
        _pin("whl", "", "whl @ file:///w/whl-1.0-py3-none-any.whl#sha256=" + "0" * 64),
        _pin("moved", "", "moved @ file:///new/moved-1.0.tar.gz"),
    )
    env = _env(
        interpreter.Installed(canonicalize_name("proj"), "0.3", (), "file:///src/proj"),
        interpreter.Installed(
            canonicalize_name("whl"), "1.0", (), "file:///w/whl-1.0-py3-none-any.whl"
        ),
        interpreter.Installed(
            canonicalize_name("moved"), "1.0", (), "file:///old/moved-1.0.tar.gz"
        ),
    )
    plan = plans.make_plan(locked, env)
    assert plan.unchanged == ("proj", "whl")
    assert [c.describe() for c in plan.changes] == [
        "reinstall moved 1.0 (from its locked reference)"
    ]


def test_protected_names_keep_lockbuild_and_what_it_needs() -> None:
    env = _env(
        _dist(
            "lockbuild",
            "0.1",
            "click>=8",
            'tomli; python_version < "3.11"',
            "pytest; extra == 'test'",
        ),
        _dist("click", "8.1", 'colorama; platform_system == "Windows"'),
        _dist("tomli", "2.0"),
        _dist("pytest", "8.0"),
        _dist("setuptools", "65"),
        _dist("uv", "0.5"),
    )
    assert interpreter.protected_names(env, "pip") == {"lockbuild", "click", "setuptools"}
    assert interpreter.protected_names(env, "uv") == {"lockbuild", "click", "setuptools", "uv"}


def test_index_options_recorded_and_overridden(tmp_path: Path) -> None:
    locked = _locked(
        tmp_path / "requirements.txt",
        options=[
            "--index-url https://example.org/simple/",
            "--extra-index-url https://extra.example/simple/",
            "--find-links ../wheels",
            "--trusted-host example.org",
            "--only-binary :all:",
            "--no-binary abiext",
        ],
    )
    recorded = locked.index_options()
    assert recorded.find_links == (str((tmp_path.parent / "wheels").resolve()),)
    assert list(indexopts.pip_inputs(recorded).argv) == [
        "--index-url",
        "https://example.org/simple/",
        "--extra-index-url",
        "https://extra.example/simple/",
        "--find-links",
        str((tmp_path.parent / "wheels").resolve()),
        "--trusted-host",
        "example.org",
        "--only-binary",
        ":all:",
        "--no-binary",
        "abiext",
    ]
    cli = sync.SyncOptions(Path("x"), index_url="http://127.0.0.1:1/simple/")
    assert indexopts.overridden(recorded, cli.index_flags).index_url == "http://127.0.0.1:1/simple/"
    assert (
        indexopts.overridden(recorded, cli.index_flags).extra_index_urls
        == recorded.extra_index_urls
    )
    offline = indexopts.overridden(
        recorded, sync.SyncOptions(Path("x"), no_index=True, find_links=("/w",)).index_flags
    )
    assert list(indexopts.pip_inputs(offline).argv)[:3] == ["--no-index", "--find-links", "/w"]
    no_index = _locked(tmp_path / "r.txt", options=["--no-index"]).index_options()
    assert no_index == IndexOptions(no_index=True)
    assert not indexopts.overridden(no_index, cli.index_flags).no_index


def test_redacted_credentials_are_left_to_keyring_or_netrc(tmp_path: Path) -> None:
    locked = _locked(
        tmp_path / "requirements.txt",
        options=[
            "--index-url https://me:****@private.example/simple/",
            "--extra-index-url https://****@other.example/simple/",
            "--extra-index-url https://plain.example/simple/",
        ],
    )
    recorded = locked.index_options()
    assert recorded.index_url == "https://me@private.example/simple/"
    assert recorded.extra_index_urls == (
        "https://other.example/simple/",
        "https://plain.example/simple/",
    )


def test_pip_constraint_value_keeps_the_users() -> None:
    ours = Path("/tmp/b.txt")
    assert installers.constraint_env_value(ours, None, []) == "/tmp/b.txt"
    assert (
        installers.constraint_env_value(ours, "/u/c.txt", ["/etc/c.txt"]) == "/u/c.txt /tmp/b.txt"
    )
    assert installers.constraint_env_value(ours, " ", ["/etc/c.txt"]) == "/etc/c.txt /tmp/b.txt"


def test_old_pip_route_with_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hashed = LockedPin(canonicalize_name("abicore"), "1.0", "abicore==1.0", (), ("ab" * 32,))
    build = _locked(tmp_path / "requirements-build.txt", hashed)
    lock = _locked(tmp_path / "requirements.txt", hashed, options=["--no-index"])
    pair = pairs.LockPair(lock, build)
    installer = installers.Installer("pip", ("py", "-m", "pip"), Version("23.2.1"), "py")
    options = sync.SyncOptions(lock.path)
    monkeypatch.setenv("PIP_CONSTRAINT", "/user/c.txt")
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    messages: list[str] = []
    env = interpreter.Environment("py", "/v", True, (), ())
    ctx = sync._Context(pair, env, installer, options, print, messages.append)
    argv, run_env = sync._install_command(ctx, tmp_path / "req.txt", tmp_path)
    copy = tmp_path / "build-constraints.txt"
    assert run_env["PIP_CONSTRAINT"] == f"/user/c.txt {copy}"
    assert copy.read_text() == "abicore==1.0\n"
    assert any("not hash-checked with pip 23.2.1" in m for m in messages)
    assert "--build-constraint" not in argv and "--no-index" in argv and "--no-deps" in argv
    cache = argv[argv.index("--cache-dir") + 1]
    digest = pins_digest([("abicore", "1.0")]).removeprefix("sha256:")[:16]
    assert cache == str(tmp_path / "cache" / "installers" / "pip" / digest)
    assert installers.requirements_text([hashed]) == f"abicore==1.0 --hash=sha256:{'ab' * 32}\n"

    new = installers.Installer("pip", ("py", "-m", "pip"), Version("25.3"), "py")
    ctx = sync._Context(pair, env, new, options, print, messages.append)
    argv, run_env = sync._install_command(ctx, tmp_path / "req.txt", tmp_path)
    assert run_env.get("PIP_CONSTRAINT") == "/user/c.txt"  # untouched
    assert argv[argv.index("--build-constraint") + 1] == str(build.path.resolve())


PIP23_FAILURE = """\
Processing ./idx/files/brokenext-1.0.tar.gz (from -r /tmp/x/requirements.txt (line 1))
  Installing build dependencies: started
Building wheels for collected packages: brokenext
  Building wheel for brokenext (pyproject.toml): finished with status 'error'
  error: subprocess-exited-with-error
  × Building wheel for brokenext (pyproject.toml) did not run successfully.
  ERROR: Failed building wheel for brokenext
Failed to build brokenext
ERROR: Could not build wheels for brokenext, which is required to install ...
"""
PIP26_FAILURE = """\
Failed to build brokenext
error: failed-wheel-build-for-install
× Failed to build installable wheels for some pyproject.toml based projects
╰─> brokenext
"""
UV_FAILURE = """\
   Building brokenext==1.0
error: Failed to build `brokenext==1.0`
  cause: The build backend returned an error
"""
GET_REQUIRES_FAILURE = """\
Collecting abiext==1.0 (from -r /tmp/r.txt (line 2))
  Getting requirements to build wheel: started
  × Getting requirements to build wheel did not run successfully.
"""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (PIP23_FAILURE, ["brokenext"]),
        (PIP26_FAILURE, ["brokenext"]),
        (UV_FAILURE, ["brokenext"]),
        (GET_REQUIRES_FAILURE, ["abiext"]),
        ("ERROR: No matching distribution found for abicore==9\n", []),
    ],
)
def test_failed_builds(output: str, expected: list[str]) -> None:
    known = ["abicore", "abiext", "brokenext"]
    assert diagnosis.failed_builds(output.splitlines(), known) == expected


def test_build_dependencies_follow_annotations(tmp_path: Path) -> None:
    build = _locked(
        tmp_path / "b.txt",
        _pin("setuptools", "70", via=("abiext (build)",)),
        _pin("abicore", "1.0", via=("-r requirements.in", "abiext (build)", "other (build)")),
        _pin("jaraco-text", "3", via=("setuptools",)),
        _pin("unrelated", "1", via=("other (build)",)),
    )
    names = [p.name for p in buildjob.build_dependencies(build, "AbiExt")]
    assert names == ["abicore", "jaraco-text", "setuptools"]


def test_target_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert interpreter.target_python(str(venv), False) == str(venv / "bin" / "python")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    assert interpreter.target_python(None, False) == str(venv / "bin" / "python")
    monkeypatch.delenv("VIRTUAL_ENV")
    with pytest.raises(UsageError, match="no virtual environment is active"):
        interpreter.target_python(None, False)
    assert os.path.basename(interpreter.target_python(None, True)).startswith("python")
