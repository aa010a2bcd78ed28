"""sync builds sdists itself: provenance in the installed dist, rebuilds when it was built
against something else, a wheelhouse shared by every venv, --check, one sync at a time.

Real pip, uv and venvs against the fixture index on loopback; builds are counted through
the fixture backend (LBBACKEND_BUILD_LOG: one line per build_wheel).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from lockbuild.build import provenance
from lockbuild.indexopts import IndexOptions
from lockbuild.lock.formats import read_lock
from lockbuild.sync import builder
from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario, isolated_env
from tests.helpers import LOCKBUILD, lockbuild, resign_pair, run

BIN = Path(sys.executable).parent
UV = BIN / "uv"
IMPORT = "import json, abiext; print(json.dumps(abiext.BUILT_AGAINST))"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("builds-index"))
    add_abi_scenario(idx)
    # a build environment that itself needs an sdist: helper is built first
    idx.sdist("buildhelper", "1.0")
    idx.sdist(
        "needshelper",
        "1.0",
        build_requires=["buildhelper"],
        record_build_versions=["buildhelper"],
    )
    # a backend without prepare_metadata_for_build_wheel: compile builds a wheel to read
    # the metadata (Requires-Dist is dynamic in PKG-INFO)
    idx.sdist(
        "metaless",
        "1.0",
        build_requires=["abicore"],
        requires_dist=["abicore"],
        record_build_versions=["abicore"],
        dynamic=["Requires-Dist"],
        prepare_metadata=False,
    )
    idx.sdist("hangext", "1.0", misbehave={"build_wheel": "hang"})
    idx.sdist("dynext", "1.0", dynamic_build_requires=["abicore"])
    idx.sdist(
        "brokenext",
        "1.0",
        build_requires=["abicore"],
        record_build_versions=["abicore", "notthere"],
    )
    idx.write()
    return idx


def make_env(tmp: Path, cache: Path | None = None) -> dict[str, str]:
    return isolated_env(
        tmp,
        LOCKBUILD_CACHE_DIR=str(cache or tmp / ".tool-cache" / "lockbuild"),
        LBBACKEND_BUILD_LOG=str(tmp / "builds.log"),
    )


def builds(env: dict[str, str]) -> list[str]:
    path = Path(env["LBBACKEND_BUILD_LOG"])
    return path.read_text().splitlines() if path.exists() else []


def compiled(root: Path, server: IndexServer, inputs: str, *flags: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.in").write_text(inputs)
    env = isolated_env(root.parent / f"{root.name}-tools")
    cache = root.parent / f"{root.name}-cache"
    lockbuild(["compile", *flags, "--index-url", server.url, "--cache-dir", cache], env, root)
    return root


def new_venv(path: Path, env: dict[str, str], *, with_pip: bool = True) -> Path:
    run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), path], env)
    return path / "bin" / "python"


def imports(python: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([python, "-c", IMPORT], env, check=False)


def dist_info(python: Path, name: str) -> Path:
    venv = python.parent.parent
    return next(venv.glob(f"lib/python*/site-packages/{name}-*.dist-info"))


def snapshot(python: Path) -> dict[str, tuple[int, int]]:
    """(mtime, inode) of every installed file: a reinstall changes them."""
    site = next(python.parent.parent.glob("lib/python*/site-packages"))
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in site.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def plain_pip_broken_venv(tmp: Path, env: dict[str, str], index: FixtureIndex) -> Path:
    """The user's environment: plain pip built abiext against the newest abicore (2.0),
    then abicore went to 1.0; importing abiext fails."""
    python = new_venv(tmp / "venv", env)
    pip: list[str | Path] = [python, "-m", "pip", "install", "-q", "--no-index"]
    pip += ["--find-links", index.find_links]
    run([*pip, "abiext", "abicore==2.0"], env)
    run([*pip, "abicore==1.0"], env)
    assert "abicore 2.0 but runtime has abicore 1.0" in imports(python, env).stderr
    assert builds(env) == ["abiext 1.0"]  # pip's build, counted too
    Path(env["LBBACKEND_BUILD_LOG"]).unlink()
    return python


# --------------------------------------------------------------------------- the ABI scenario


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_rebuild_what_plain_pip_built(
    tmp_path: Path, server: IndexServer, index: FixtureIndex, installer: str
) -> None:
    if installer == "uv" and not UV.exists():
        pytest.skip("uv is not installed beside lockbuild")
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n")
    lock = read_lock(project / "requirements.txt")
    assert [line.split()[0] for line in lock.meta["lockbuild-sdist"]] == ["abiext==1.0"]
    env = make_env(tmp_path)
    python = plain_pip_broken_venv(tmp_path, env, index)
    sync: list[str | Path] = ["sync", "--python", python, "--installer", installer]

    proc = lockbuild([*sync, "--dry-run"], env, project)
    assert "would rebuild abiext 1.0: built outside lockbuild (no build record)" in proc.stdout
    proc = lockbuild([*sync, "--check"], env, project, check=False)
    assert proc.returncode == 1
    assert "would rebuild abiext 1.0: built outside lockbuild (no build record)" in proc.stdout
    assert builds(env) == []

    proc = lockbuild(sync, env, project)
    assert "rebuild abiext 1.0: built outside lockbuild (no build record)" in proc.stdout
    assert "built abiext 1.0 against abicore==1.0" in proc.stdout
    assert "1 rebuilt, 1 unchanged; verified" in proc.stdout
    assert builds(env) == ["abiext 1.0"]
    assert json.loads(imports(python, env).stdout) == {"abicore": "1.0"}

    # the record: in the .dist-info, listed in RECORD, read back by the probe
    info = dist_info(python, "abiext")
    record = provenance.parse_record((info / "lockbuild-build.json").read_text())
    assert record is not None and record.environment == ("abicore==1.0",)
    assert record.sdist == "abiext-1.0.tar.gz"
    assert any(
        line.startswith(f"{info.name}/lockbuild-build.json,sha256=")
        for line in (info / "RECORD").read_text().splitlines()
    )

    # a second sync changes nothing: no installer, no build, no file touched
    before = snapshot(python)
    proc = lockbuild([*sync, "-v"], env, project)
    assert "nothing to do" in proc.stdout and "lockbuild: running:" not in proc.stderr
    assert snapshot(python) == before
    assert lockbuild([*sync, "--check"], env, project).returncode == 0
    assert builds(env) == ["abiext 1.0"]

    # a recompile moves the build dependency: the next sync rebuilds abiext against it
    (project / "requirements.in").write_text("abicore==2.0\nabiext\n")
    tools = isolated_env(tmp_path / "recompile-tools")
    lockbuild(
        ["compile", "-q", "--index-url", server.url, "--cache-dir", tmp_path / "c2"], tools, project
    )
    proc = lockbuild([*sync, "--dry-run"], env, project)
    assert (
        "would rebuild abiext 1.0: built against abicore 1.0; the lock builds it against "
        "abicore 2.0" in proc.stdout
    )
    assert "would upgrade abicore 1.0 -> 2.0" in proc.stdout
    proc = lockbuild(sync, env, project)
    assert "built abiext 1.0 against abicore==2.0" in proc.stdout
    assert json.loads(imports(python, env).stdout) == {"abicore": "2.0"}
    assert builds(env) == ["abiext 1.0", "abiext 1.0"]


def test_pair_without_sdist_lines_still_syncs(tmp_path: Path, server: IndexServer) -> None:
    """A pair written before compile recorded its sdists (no ``lockbuild-sdist`` lines):
    sync leaves the builds to the installer with the build constraints, as before, and
    judges by version."""
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n")
    for name in ("requirements.txt", "requirements-build.txt"):
        path = project / name
        kept = [x for x in path.read_text().splitlines() if "lockbuild-sdist" not in x]
        path.write_text("\n".join(kept) + "\n")
    # as such a pair was written: its digests cover the lines it has
    resign_pair(project / "requirements.txt", project / "requirements-build.txt")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    proc = lockbuild(["sync", "--python", python], env, project)
    assert "built abiext" not in proc.stdout and "build constraints via" in proc.stdout
    assert builds(env) == ["abiext 1.0"]  # built by pip, against the locked abicore
    assert json.loads(imports(python, env).stdout) == {"abicore": "1.0"}
    assert not (dist_info(python, "abiext") / "lockbuild-build.json").exists()
    assert "nothing to do" in lockbuild(["sync", "--python", python], env, project).stdout


def test_wheelhouse_is_reused_by_a_second_venv(tmp_path: Path, server: IndexServer) -> None:
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n")
    env = make_env(tmp_path)
    first = new_venv(tmp_path / "one", env, with_pip=False)
    proc = lockbuild(["sync", "--python", first, "--installer", "uv"], env, project)
    assert "built abiext 1.0 against abicore==1.0" in proc.stdout
    assert builds(env) == ["abiext 1.0"]

    second = new_venv(tmp_path / "two", env)
    proc = lockbuild(["sync", "--python", second], env, project)
    assert "reused abiext 1.0 against abicore==1.0" in proc.stdout
    assert builds(env) == ["abiext 1.0"]  # nothing built again
    assert json.loads(imports(second, env).stdout) == {"abicore": "1.0"}

    # -q silences the summary, builds included
    third = new_venv(tmp_path / "three", env, with_pip=False)
    proc = lockbuild(["sync", "-q", "--python", third, "--installer", "uv"], env, project)
    assert proc.stdout == ""


def test_sdist_in_a_build_environment_is_built_first(tmp_path: Path, server: IndexServer) -> None:
    project = compiled(tmp_path / "p", server, "needshelper\n")
    sdists = read_lock(project / "requirements-build.txt").meta["lockbuild-sdist"]
    assert sorted(line.split()[0] for line in sdists) == ["buildhelper==1.0", "needshelper==1.0"]
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    proc = lockbuild(["sync", "--python", python, "--jobs", "2"], env, project)
    assert builds(env) == ["buildhelper 1.0", "needshelper 1.0"]
    assert "built needshelper 1.0 against buildhelper==1.0" in proc.stdout
    # (needshelper only imports beside buildhelper, which is a build dependency only)
    site = next(python.parent.parent.glob("lib/python*/site-packages"))
    recorded = (site / "needshelper" / "_build_env.py").read_text()
    assert "BUILT_AGAINST = {'buildhelper': '1.0'}" in recorded
    assert "buildhelper" not in {canonicalize_name(p.name) for p in site_dists(python)}


def site_dists(python: Path) -> list[Path]:
    return list(next(python.parent.parent.glob("lib/python*/site-packages")).glob("*.dist-info"))


# --------------------------------------------------------------------------- failures, hashes


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_failed_build_leaves_the_env_untouched(
    tmp_path: Path, server: IndexServer, index: FixtureIndex, installer: str
) -> None:
    if installer == "uv" and not UV.exists():
        pytest.skip("uv is not installed beside lockbuild")
    project = compiled(tmp_path / "p", server, "abicore==1.0\nbrokenext\n")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            index.find_links,
            "abicore==2.0",
        ],
        env,
    )
    before = snapshot(python)
    proc = lockbuild(
        ["sync", "--python", python, "--installer", installer], env, project, check=False
    )
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith(
        "lockbuild: error: building brokenext 1.0 from brokenext-1.0.tar.gz failed: "
        "the build backend failed"
    )
    assert "build pins: abicore==1.0;" in message
    assert f"nothing was changed in {python.parent.parent}" in message
    assert "notthere is not installed in the build environment" in proc.stderr  # log tail
    log = Path(message.rsplit("full log: ", 1)[1])
    assert "notthere" in log.read_text()
    assert "Traceback" not in proc.stderr.split("--- build log")[0]
    assert snapshot(python) == before


def test_a_build_that_hangs_is_killed(tmp_path: Path, server: IndexServer) -> None:
    """build_wheel never returns: LOCKBUILD_BUILD_TIMEOUT ends it (its process group is
    killed), one error line names it, the environment is untouched."""
    project = compiled(tmp_path / "p", server, "hangext\n")
    env = {**make_env(tmp_path), "LOCKBUILD_BUILD_TIMEOUT": "3"}
    python = new_venv(tmp_path / "venv", env)
    before = snapshot(python)
    started = time.monotonic()
    proc = lockbuild(["sync", "--python", python], env, project, check=False)
    assert proc.returncode == 1
    assert time.monotonic() - started < 120
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("lockbuild: error: building hangext 1.0 from hangext-1.0.tar.gz")
    assert "did not finish within 3 s" in message
    assert snapshot(python) == before
    # the backend's process is gone: no process runs the build env's interpreter
    log = Path(message.rsplit("full log: ", 1)[1]).read_text()
    build_python = next(line.split()[1] for line in log.splitlines() if "_in_process" in line)
    assert "/lockbuild-build-" in build_python and not Path(build_python).exists()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert build_python not in text


def test_backend_asking_for_an_unlocked_requirement_is_refused(
    tmp_path: Path, server: IndexServer
) -> None:
    """Compiled with --no-build-hooks, the lock misses what dynext's backend adds
    (abicore): sync refuses to fetch it and says so, before building."""
    project = compiled(tmp_path / "p", server, "dynext\n", "--no-build-hooks")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    proc = lockbuild(["sync", "--python", python], env, project, check=False)
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    assert (
        "building dynext 1.0 from dynext-1.0.tar.gz failed: its backend asks for abicore, "
        in message
    )
    assert "which its locked build environment does not satisfy" in message
    # The fix is the lock's own compile command (here the one that left the hooks out).
    recorded = read_lock(project / "requirements.txt").command
    assert f"recompile the lock: {recorded};" in message and "--no-build-hooks" in recorded
    assert builds(env) == []
    # with the hooks, the lock has it and the build goes through
    project = compiled(tmp_path / "q", server, "dynext\n")
    proc = lockbuild(["sync", "--python", python], env, project)
    assert "built dynext 1.0 against abicore==2.0" in proc.stdout


def test_build_environment_is_hash_checked(tmp_path: Path, server: IndexServer) -> None:
    """A wrong --hash in the build file fails the build (whichever installer would have
    done the install), before the environment is touched."""
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n", "--generate-hashes")
    build = project / "requirements-build.txt"
    digest = read_lock(build).pins[canonicalize_name("abicore")].hashes[0]
    build.write_text(build.read_text().replace(digest, "0" * 64))
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    # an edited hash: the pair no longer matches, sync refuses before anything runs
    proc = lockbuild(["sync", "--python", python, "--installer", "uv"], env, project, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "requirements-build.txt line " in proc.stderr
    assert "was edited after compile: abicore==1.0 --hash=sha256:" + "0" * 64 in proc.stderr
    # with the digests recomputed to match, the build itself refuses the wrong hash
    resign_pair(project / "requirements.txt", build)
    proc = lockbuild(["sync", "--python", python, "--installer", "uv"], env, project, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "building abiext 1.0 from abiext-1.0.tar.gz failed" in proc.stderr
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in proc.stderr
    assert "warning: uv does not check the hashes" not in proc.stderr
    assert site_dists(python) == []

    # with the right hashes, builds run in --require-hashes mode and succeed
    build.write_text(build.read_text().replace("0" * 64, digest))
    resign_pair(project / "requirements.txt", build)
    proc = lockbuild(["sync", "--python", python, "--installer", "uv"], env, project)
    log = sorted((tmp_path / ".tool-cache" / "lockbuild" / "wheelhouse" / "logs").glob("abiext-*"))
    assert "--require-hashes" in log[-1].read_text()
    assert json.loads(imports(python, env).stdout) == {"abicore": "1.0"}


# --------------------------------------------------------------------------- one sync at a time


def test_second_sync_waits_for_the_first(tmp_path: Path, server: IndexServer) -> None:
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n")
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    lock_path = python.parent.parent / ".lockbuild-sync.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a sync in progress
    proc = subprocess.Popen(
        [*LOCKBUILD, "sync", "--python", str(python)],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("lockbuild: waiting for another lockbuild sync into")
        time.sleep(0.5)
        assert "abicore" not in {p.name.split("-")[0] for p in site_dists(python)}
    finally:
        os.close(fd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "verified" in out
    # two at once: both succeed, the env ends as locked, never an interleaved install
    other = new_venv(tmp_path / "other", env)
    argv = [*LOCKBUILD, "sync", "--python", str(other)]
    procs = [
        subprocess.Popen(
            argv, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert sum("nothing to do" in out for out, _ in results) == 1
    assert json.loads(imports(other, env).stdout) == {"abicore": "1.0"}


# --------------------------------------------------------------------------- wheelhouse


@pytest.mark.parametrize("hashes", [False, True], ids=["plain", "hashes"])
def test_wheelhouse_installs_offline(tmp_path: Path, server: IndexServer, hashes: bool) -> None:
    flags = ["--generate-hashes"] if hashes else []
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n", *flags)
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "target", env, with_pip=False)
    proc = lockbuild(["wheelhouse", "-o", "wheels", "--python", python], env, project)
    assert "built abiext 1.0 against abicore==1.0" in proc.stdout
    assert "wrote 2 wheels" in proc.stdout
    wheels = project / "wheels"
    assert sorted(p.name for p in wheels.glob("*.whl")) == [
        "abicore-1.0-py3-none-any.whl",
        "abiext-1.0-py3-none-any.whl",
    ]
    built = provenance.read_wheel_record(wheels / "abiext-1.0-py3-none-any.whl")
    assert built is not None and built.environment == ("abicore==1.0",)
    assert builds(env) == ["abiext 1.0"]

    # offline: real pip, no index at all, with the build record installed along
    offline = {**env, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    lock = wheels / "requirements-wheels.txt" if hashes else project / "requirements.txt"
    pip_venv = new_venv(tmp_path / "offline", env)
    run(
        [pip_venv, "-m", "pip", "install", "--no-index", "--find-links", wheels, "-r", lock],
        offline,
        cwd=project,
    )
    assert json.loads(imports(pip_venv, env).stdout) == {"abicore": "1.0"}
    assert (dist_info(pip_venv, "abiext") / "lockbuild-build.json").is_file()
    if UV.exists():
        uv_venv = new_venv(tmp_path / "offline-uv", env, with_pip=False)
        run(
            [
                UV,
                "pip",
                "install",
                "--python",
                uv_venv,
                "--no-index",
                "--find-links",
                wheels,
                "-r",
                lock,
            ],
            offline,
            cwd=project,
        )
        assert json.loads(imports(uv_venv, env).stdout) == {"abicore": "1.0"}

    # sync --find-links DIR takes the built wheel from there: nothing is built
    fresh = make_env(tmp_path / "fresh")  # an empty wheelhouse cache
    other = new_venv(tmp_path / "synced", fresh)
    proc = lockbuild(
        ["sync", "--python", other, "--no-index", "--find-links", "wheels"], fresh, project
    )
    assert "reused abiext 1.0 against abicore==1.0" in proc.stdout
    assert builds(fresh) == []
    assert json.loads(imports(other, fresh).stdout) == {"abicore": "1.0"}
    # and that env is in sync with the lock
    assert lockbuild(["sync", "--python", other, "--check"], fresh, project).returncode == 0


def test_build_envs_filled_by_uv_where_lockbuild_has_no_pip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pip" else real(name, *a)
    )
    if not UV.exists():
        pytest.skip("uv is not installed beside lockbuild")
    index = IndexOptions(
        index_url="http://127.0.0.1:9/simple", extra_index_urls=("http://127.0.0.1:8/simple",)
    )
    argv, words, env = builder._installer("/b/bin/python", index)
    assert argv == [str(UV), "pip", "install", "--python", "/b/bin/python", "--no-deps"]
    # the lock's strategy (pip's best match by default) is named to uv, whose own
    # default would look only at the first index listing a project
    assert words[words.index("--index-strategy") + 1] == "unsafe-best-match"


def test_sync_reuses_the_wheel_compile_built_for_metadata(
    tmp_path: Path, server: IndexServer
) -> None:
    """compile had to build metaless to read its metadata: when that build environment
    equals the one the lock prescribes, sync installs that wheel, with its record,
    unbuilt; when it does not (the hook ran before the resolver settled on an older
    abicore), sync builds against the lock's."""
    env = make_env(tmp_path)
    cache = env["LOCKBUILD_CACHE_DIR"]
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.in").write_text("metaless\n")
    lockbuild(["compile", "-q", "--index-url", server.url, "--cache-dir", cache], env, root)
    assert builds(env) == ["metaless 1.0"]  # the metadata fallback
    python = new_venv(tmp_path / "venv", env, with_pip=False)
    proc = lockbuild(["sync", "--python", python, "--installer", "uv"], env, root)
    assert "reused metaless 1.0 against abicore==2.0" in proc.stdout
    assert builds(env) == ["metaless 1.0"]
    info = dist_info(python, "metaless")
    record = provenance.parse_record((info / "lockbuild-build.json").read_text())
    assert record is not None and record.environment == ("abicore==2.0",)
    code = "import json, metaless; print(json.dumps(metaless.BUILT_AGAINST))"
    assert json.loads(run([python, "-c", code], env).stdout) == {"abicore": "2.0"}

    (root / "requirements.in").write_text("abicore==1.0\nmetaless\n")
    lockbuild(["compile", "-q", "--index-url", server.url, "--cache-dir", cache], env, root)
    proc = lockbuild(["sync", "--python", python, "--installer", "uv"], env, root)
    assert "built metaless 1.0 against abicore==1.0" in proc.stdout
    assert json.loads(run([python, "-c", code], env).stdout) == {"abicore": "1.0"}


# ---------------------------------------------------------------- the wheelhouse verified


def _rewrite_wheel(wheel: Path, *, fix_record: bool) -> None:
    """Make the wheel's package raise at import; its build record kept as it was, its
    RECORD updated to match (``fix_record``) or left stale."""
    import base64
    import hashlib
    import zipfile

    with zipfile.ZipFile(wheel) as source:
        members = {i.filename: source.read(i) for i in source.infolist()}
    init = next(n for n in members if n.endswith("/__init__.py"))
    members[init] = b"raise ImportError('tampered in the wheelhouse')\n"
    if fix_record:
        record = next(n for n in members if n.endswith(".dist-info/RECORD"))
        digest = base64.urlsafe_b64encode(hashlib.sha256(members[init]).digest()).rstrip(b"=")
        lines = [
            f"{init},sha256={digest.decode()},{len(members[init])}"
            if line.startswith(f"{init},")
            else line
            for line in members[record].decode().splitlines()
        ]
        members[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)


TAMPERING = {
    # content and RECORD changed together: only the sha256 recorded at build time differs
    "record-consistent": lambda wheel: _rewrite_wheel(wheel, fix_record=True),
    # the recorded sha256 rewritten too: the wheel's own RECORD no longer matches
    "digest-rewritten": lambda wheel: (
        _rewrite_wheel(wheel, fix_record=False),
        provenance.write_digest(wheel),
    ),
    "digest-removed": lambda wheel: provenance.digest_path(wheel).unlink(),
}


@pytest.mark.parametrize("installer", ["pip", "uv"])
@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_wheel_changed_in_the_wheelhouse_is_rebuilt(
    tmp_path: Path, server: IndexServer, installer: str, tampering: str
) -> None:
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n")
    env = make_env(tmp_path)
    first = new_venv(tmp_path / "one", env, with_pip=installer == "pip")
    sync: list[str | Path] = ["sync", "--installer", installer, "--python"]
    lockbuild([*sync, first], env, project)
    assert builds(env) == ["abiext 1.0"]
    wheelhouse = Path(env["LOCKBUILD_CACHE_DIR"]) / "wheelhouse"
    (wheel,) = wheelhouse.glob("*/*/*/abiext-1.0-*.whl")
    TAMPERING[tampering](wheel)

    second = new_venv(tmp_path / "two", env, with_pip=installer == "pip")
    proc = lockbuild([*sync, second], env, project)
    notes = [line for line in proc.stderr.splitlines() if line.startswith("lockbuild: note:")]
    assert len(notes) == 1, proc.stderr
    assert notes[0].startswith(f"lockbuild: note: {wheel}") or wheel.name in notes[0]
    assert notes[0].endswith("; building abiext 1.0 again")
    why = {
        "record-consistent": "not the",
        "digest-rewritten": "differs from its RECORD",
        "digest-removed": "has no recorded sha256",
    }[tampering]
    assert why in notes[0]
    assert "Traceback" not in proc.stderr
    assert builds(env) == ["abiext 1.0", "abiext 1.0"]
    assert "verified" in proc.stdout
    assert json.loads(imports(second, env).stdout) == {"abicore": "1.0"}
    # rebuilt in place: the next venv reuses it without a word
    third = new_venv(tmp_path / "three", env, with_pip=installer == "pip")
    proc = lockbuild([*sync, third], env, project)
    assert "reused abiext 1.0" in proc.stdout and "note:" not in proc.stderr
    assert builds(env) == ["abiext 1.0", "abiext 1.0"]


RECORD_EDITS = {
    "python": (lambda d: {**d, "python": "cpython-3.0-linux-x86_64"}, "built on cpython-3.0"),
    "built-by": (lambda d: {**d, "built-by": "someone"}, "edited or is damaged"),
    "format": (lambda d: {**d, "format": 2}, "edited or is damaged"),
    "sdist-filename": (
        lambda d: {**d, "sdist": {**d["sdist"], "filename": "abiext-1.0.zip"}},
        "not abiext-1.0.tar.gz",
    ),
    "added-field": (lambda d: {**d, "note": "hello"}, "edited or is damaged"),
    "digest": (
        lambda d: {**d, "build-environment-digest": "sha256:" + "0" * 64},
        "edited or is damaged",
    ),
}


@pytest.mark.parametrize("fmt", ["text", "pylock"])
def test_every_field_of_an_installed_build_record_is_compared(
    tmp_path: Path, server: IndexServer, fmt: str
) -> None:
    flags = ("-o", "pylock.toml") if fmt == "pylock" else ()
    lock = "pylock.toml" if fmt == "pylock" else "requirements.txt"
    project = compiled(tmp_path / "p", server, "abicore==1.0\nabiext\n", *flags)
    env = make_env(tmp_path)
    python = new_venv(tmp_path / "venv", env)
    lockbuild(["sync", lock, "--python", python], env, project)
    path = dist_info(python, "abiext") / "lockbuild-build.json"
    genuine = path.read_text()
    assert lockbuild(["sync", lock, "--check", "--python", python], env, project).returncode == 0
    for field, (edit, reason) in RECORD_EDITS.items():
        path.write_text(json.dumps(edit(json.loads(genuine)), indent=2) + "\n")
        proc = lockbuild(["sync", lock, "--check", "--python", python], env, project, check=False)
        assert proc.returncode == 1, (field, proc.stdout, proc.stderr)
        assert "would rebuild abiext 1.0: " in proc.stdout and reason in proc.stdout, field
    path.write_text(genuine)
    assert lockbuild(["sync", lock, "--check", "--python", python], env, project).returncode == 0
