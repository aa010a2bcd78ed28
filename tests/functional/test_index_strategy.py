"""Any lock installs with any installer: a lock resolved across two loopback indexes,
installed by ``lockbuild sync`` with pip and with uv, and by a plain ``uv pip install``
of the line the build file records.

The main index (``--index-url``) has lib 2.0 and an sdist ext that builds against lib;
the extra index has only lib 1.0. pip takes the best match across both (lib 2.0); uv's
default takes only the first index listing lib, searching extra indexes first (lib 1.0).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import lockbuild, pins, run, write

UV = Path(sys.executable).parent / "uv"
BUILT_AGAINST = "import json, ext; print(json.dumps(ext.BUILT_AGAINST))"

pytestmark = pytest.mark.skipif(not UV.exists(), reason="uv is not installed beside lockbuild")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    main = FixtureIndex(tmp_path_factory.mktemp("main-index"))
    main.wheel("lib", "2.0")
    main.sdist(
        "ext", "1.0", build_requires=["lib"], requires_dist=["lib"], record_build_versions=["lib"]
    )
    main.write()
    extra = FixtureIndex(tmp_path_factory.mktemp("extra-index"))
    extra.wheel("lib", "1.0")
    extra.write()
    with IndexServer(main.root) as first, IndexServer(extra.root) as second:
        yield first.url, second.url


# strategy -> the lib version the lock holds
EXPECTED = {"unsafe-best-match": "2.0", "first-index": "1.0"}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def locked(
    request: pytest.FixtureRequest,
    servers: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path]:
    """A project compiled with one strategy: (strategy, project directory)."""
    strategy: str = request.param
    main, extra = servers
    root = tmp_path_factory.mktemp(f"project-{strategy}")
    env = isolated_env(root, LOCKBUILD_CACHE_DIR=str(root / "cache"))
    write(root / "requirements.in", "ext\n")
    args = ["compile", "--index-url", main, "--extra-index-url", extra, "-q", "--generate-hashes"]
    if strategy != "unsafe-best-match":
        args += ["--index-strategy", strategy]
    lockbuild(args, env, root)
    return strategy, root


def _env(tmp_path: Path) -> dict[str, str]:
    return isolated_env(tmp_path, LOCKBUILD_CACHE_DIR=str(tmp_path / "cache"))


def _venv(path: Path, env: dict[str, str], *, with_pip: bool) -> Path:
    run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), path], env)
    return path / "bin" / "python"


def _built_against(python: Path, env: dict[str, str]) -> dict[str, str]:
    result: dict[str, str] = json.loads(run([python, "-c", BUILT_AGAINST], env).stdout)
    return result


def _installed_lib(python: Path, env: dict[str, str]) -> str:
    code = "import importlib.metadata as m; print(m.version('lib'))"
    return run([python, "-c", code], env).stdout.strip()


def test_the_lock_records_the_strategy(locked: tuple[str, Path], tmp_path: Path) -> None:
    strategy, root = locked
    lock, build = root / "requirements.txt", root / "requirements-build.txt"
    assert pins(lock) == {"ext": "1.0", "lib": EXPECTED[strategy]}
    assert pins(build) == {"lib": EXPECTED[strategy]}
    for path in (lock, build):
        assert f"# lockbuild-index-strategy: {strategy}" in path.read_text().splitlines()
    uv_line = next(x for x in build.read_text().splitlines() if x.startswith("#    uv pip "))
    if strategy == "unsafe-best-match":
        assert "--index-strategy unsafe-best-match --build-constraints" in uv_line
    else:  # uv's default already searches as the lock did
        assert "--index-strategy" not in uv_line
    # check reads the recorded command (with its --index-strategy): the lock is current.
    env = isolated_env(tmp_path, LOCKBUILD_CACHE_DIR=str(root / "cache"))
    assert lockbuild(["check"], env, root).returncode == 0


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_sync_installs_the_lock(locked: tuple[str, Path], installer: str, tmp_path: Path) -> None:
    strategy, root = locked
    env = _env(tmp_path)
    python = _venv(tmp_path / "venv", env, with_pip=installer == "pip")
    lockbuild(["sync", "--python", python, "--installer", installer], env, root)
    assert _installed_lib(python, env) == EXPECTED[strategy]
    assert _built_against(python, env) == {"lib": EXPECTED[strategy]}


def test_plain_pip_installs_the_lock_with_the_recorded_line(
    locked: tuple[str, Path], tmp_path: Path
) -> None:
    """The build file's ``pip install --build-constraint`` line, as written, by the pip
    beside lockbuild (25.3 or later) into a fresh venv: pip takes the best match, and
    every pin is exact, so a lock of either strategy installs."""
    strategy, root = locked
    env = _env(tmp_path)
    python = _venv(tmp_path / "venv", env, with_pip=False)
    build = root / "requirements-build.txt"
    line = next(x for x in build.read_text().splitlines() if x.startswith("#    pip install "))
    words = shlex.split(line.removeprefix("#").split("    (")[0])
    assert words[:3] == ["pip", "install", "--build-constraint"]
    run([sys.executable, "-m", "pip", "--python", python, *words[1:]], env, cwd=root)
    assert _installed_lib(python, env) == EXPECTED[strategy]
    assert _built_against(python, env) == {"lib": EXPECTED[strategy]}


def test_plain_uv_installs_the_lock_with_the_recorded_line(
    locked: tuple[str, Path], tmp_path: Path
) -> None:
    """The build file's own ``uv pip install`` line, run as written (uv builds ext)."""
    strategy, root = locked
    env = _env(tmp_path)
    python = _venv(tmp_path / "venv", env, with_pip=False)
    build = root / "requirements-build.txt"
    line = next(x for x in build.read_text().splitlines() if x.startswith("#    uv pip "))
    words = shlex.split(line.removeprefix("#"))
    assert words[:3] == ["uv", "pip", "install"]
    run([UV, *words[1:3], "--python", python, *words[3:]], env, cwd=root)
    assert _installed_lib(python, env) == EXPECTED[strategy]
    assert _built_against(python, env) == {"lib": EXPECTED[strategy]}
    if strategy == "unsafe-best-match":
        # Without the recorded strategy uv cannot install this lock: what the line is for.
        plain = [w for w in words[3:] if w not in ("--index-strategy", "unsafe-best-match")]
        again = _venv(tmp_path / "again", env, with_pip=False)
        proc = run([UV, "pip", "install", "--python", again, *plain], env, cwd=root, check=False)
        assert proc.returncode != 0 and "lib" in proc.stderr


def test_first_index_resolution_reads_only_the_first_index(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    """With first-index, a project listed by the extra index is not looked up on the
    index URL at all (uv's order: extra indexes first)."""
    main, extra = servers
    env = _env(tmp_path)
    write(tmp_path / "requirements.in", "lib>=2\n")
    proc = lockbuild(
        ["compile", "--index-url", main, "--extra-index-url", extra, "-q"]
        + ["--index-strategy", "first-index"],
        env,
        tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "no version of lib satisfies this" in proc.stderr and "(available: 1.0)" in proc.stderr
    assert "(--index-strategy first-index: a project's versions come only from" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "requirements.txt").exists()
