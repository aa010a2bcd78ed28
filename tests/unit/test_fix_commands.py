"""Every printed fix is the exact command to run: sync --check's, a target mismatch's;
and --index-strategy's usage errors (click's runner, in process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbuild.cli.main import main
from lockbuild.sync.run import SyncOptions, recompile_for

pytestmark = pytest.mark.unit


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
