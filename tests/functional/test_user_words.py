"""Words as users expect them: network errors that say refused, DNS, TLS or timeout;
``sync`` printing one line per action with the installer's output in its log unless
-v; every printed fix the exact command to run; --index-strategy's usage errors."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import LOCKBUILD, lockbuild, run, write

UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    idx.wheel("core", "1.0")
    idx.sdist("ext", "1.0", build_requires=["core"], requires_dist=["core"])
    idx.write()
    return idx


# ------------------------------------------------------------------ network words


def test_tls_error_is_named(tmp_path: Path, index: FixtureIndex) -> None:
    """An https index that does not speak TLS: the error says so, one line."""
    env = isolated_env(tmp_path, LOCKBUILD_RETRIES="1")
    write(tmp_path / "requirements.in", "core\n")
    with IndexServer(index.root) as server:
        url = server.url.replace("http://", "https://")
        proc = lockbuild(["compile", "--index-url", url, "-q"], env, tmp_path, check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr
        == f"lockbuild: error: {url}core/: TLS error (WRONG_VERSION_NUMBER) (tried once)\n"
    )


def test_refused_is_named(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, LOCKBUILD_RETRIES="1")
    write(tmp_path / "requirements.in", "core\n")
    url = "http://127.0.0.1:9/simple/"  # nothing listens on the discard port
    proc = lockbuild(["compile", "--index-url", url, "-q"], env, tmp_path, check=False)
    assert proc.stderr == f"lockbuild: error: {url}core/: connection refused (tried once)\n"


# ------------------------------------------------------------------ sync


@pytest.mark.skipif(not UV.exists(), reason="uv is not installed beside lockbuild")
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_sync_says_one_line_per_action_and_prints_the_exact_fix(
    tmp_path: Path, index: FixtureIndex, installer: str
) -> None:
    cache = tmp_path / "lockbuild-cache"
    env = isolated_env(tmp_path, LOCKBUILD_CACHE_DIR=str(cache))
    project = tmp_path / "project"
    write(project / "deps.in", "ext\n")
    with IndexServer(index.root) as server:
        lockbuild(["compile", "deps.in", "--index-url", server.url, "-q"], env, project)
        venv = tmp_path / "venv"
        without_pip = [] if installer == "pip" else ["--without-pip"]
        run([sys.executable, "-m", "venv", *without_pip, venv], env)
        python = str(venv / "bin" / "python")
        given = ["deps.txt", "--python", python]
        given += ["--installer", "uv"] if installer == "uv" else []

        check = lockbuild(["sync", *given, "--check"], env, project, check=False)
        assert check.returncode == 1
        fix = check.stdout.strip().splitlines()[-1].split("; run: ", 1)[1]
        assert fix == shlex.join(["lockbuild", "sync", *given])
        # The fix, run as printed, is what makes the check pass.
        synced = run([*LOCKBUILD, *shlex.split(fix)[1:]], env, cwd=project)
        assert lockbuild(["sync", *given, "--check"], env, project).returncode == 0

    output = synced.stdout + synced.stderr
    for noise in ("Collecting", "Processing", "Successfully installed", "Installing collected"):
        assert noise not in output
    actions = [x for x in synced.stdout.splitlines() if x.startswith("  ")]
    assert sorted(a.split()[0:2] for a in actions) == [
        ["built", "ext"],
        ["install", "core"],
        ["install", "ext"],
    ]
    log = (cache / "logs" / "sync.log").read_text()
    assert log.startswith("$ ") and "core" in log
