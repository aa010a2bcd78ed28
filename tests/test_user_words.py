"""Words as users expect them: network errors that say refused, DNS, TLS or timeout;
``sync`` printing one line per action with the installer's output in its log unless
-v; every printed fix the exact command to run; --index-strategy's usage errors."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbuild.cli.main import main
from lockbuild.sync.run import SyncOptions, recompile_for
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


# ------------------------------------------------------------------ pure tables


@pytest.mark.unit
@pytest.mark.parametrize(
    ("options", "command"),
    [
        (SyncOptions(Path("requirements.txt")), "lockbuild sync requirements.txt"),
        (
            SyncOptions(Path("dev.txt"), python="/v/bin/python", installer="uv"),
            "lockbuild sync dev.txt --python /v/bin/python --installer uv",
        ),
        (
            SyncOptions(
                Path("a b/lock.txt"),
                build_file=Path("b.txt"),
                system=True,
                index_url="https://me:secret@host/simple/",
                find_links=("w",),
                ignore_target=True,
            ),
            "lockbuild sync 'a b/lock.txt' --build-constraints b.txt --system "
            "--index-url https://me:****@host/simple/ --find-links w --ignore-target",
        ),
    ],
)
def test_sync_command_is_the_one_given(options: SyncOptions, command: str) -> None:
    assert options.command() == command


@pytest.mark.unit
@pytest.mark.parametrize(
    ("recorded", "python", "command"),
    [
        ("lockbuild compile", "/p", "lockbuild compile --python /p"),
        (
            "lockbuild compile dev.in -o dev.txt --python /old --generate-hashes",
            "/p",
            "lockbuild compile dev.in -o dev.txt --generate-hashes --python /p",
        ),
        (
            "lockbuild compile --python-version=3.12 --platform linux_x86_64 x.in",
            "/p q",
            "lockbuild compile x.in --python '/p q'",
        ),
        ("pip-compile x.in", "/p", "lockbuild compile --python /p"),
        ("", "/p", "lockbuild compile --python /p"),
    ],
)
def test_recompile_for_another_target(recorded: str, python: str, command: str) -> None:
    assert recompile_for(recorded, python) == command


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--index-strategy", "first-index", "--help"], 0, "--index-strategy"),
        (["--index-strategy", "unsafe-first-match"], 2, "'unsafe-first-match' is not one of"),
        (["--index-strategy", "best"], 2, "'first-index', 'unsafe-best-match'"),
    ],
)
def test_index_strategy_usage(args: list[str], code: int, words: str) -> None:
    result = CliRunner().invoke(main, ["compile", *args])
    assert result.exit_code == code
    assert words in result.output


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
