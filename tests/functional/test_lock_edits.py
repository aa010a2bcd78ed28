"""One table of edits of a compiled lock, over both formats: each is refused by every
command that reads a lock (check, sync, sync --dry-run, wheelhouse) with one line naming
the file and the field or line, the exit code of a stale lock, no traceback, and every
file left byte for byte as it was."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario, isolated_env
from tests.helpers import lockbuild, write

Edit = Callable[[str], str]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    add_abi_scenario(idx)  # abicore 1.0, 2.0 (wheels); abiext 1.0 (sdist)
    idx.write()
    return idx


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> dict[str, Path]:
    """A project compiled once into each format."""
    root = tmp_path_factory.mktemp("compiled")
    env = isolated_env(root / "home")
    found = {}
    for lock in ("requirements.txt", "pylock.toml"):
        project = root / lock
        write(project / "requirements.in", "abiext\n")
        lockbuild(
            ["compile", "--index-url", server.url, "--cache-dir", root / "cache", "-q", "-o", lock],
            env,
            project,
        )
        found[lock] = project
    return found


def _toml_sub(pattern: str, repl: str) -> Edit:
    return lambda text: re.sub(pattern, repl, text, count=1, flags=re.M)


def _foreign_wheel(text: str) -> str:
    """abiext's sdist entry replaced by a wheel entry from another host."""
    start = text.index("[packages.sdist]")
    end = text.index("\n\n", start)
    wheel = (
        "[[packages.wheels]]\n"
        'name = "abiext-1.0-py3-none-any.whl"\n'
        'url = "http://elsewhere.invalid/abiext-1.0-py3-none-any.whl"\n'
        'hashes = {sha256 = "' + "f" * 64 + '"}'
    )
    return text[:start] + wheel + text[end:]


def _add_marker(text: str) -> str:
    return text.replace('name = "abicore"\n', 'name = "abicore"\nmarker = "os_name == \'nt\'"\n', 1)


# (lock, edited file, edit, what the one line says)
EDITS: list[tuple[str, str, Edit, str]] = [
    (
        "pylock.toml",
        "pylock.toml",
        _toml_sub(r'^url = "http://[^/]+/', 'url = "http://elsewhere.invalid/'),
        'pylock.toml: packages[abicore].wheels[1].url = "http://elsewhere.invalid/',
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _toml_sub(r"sha256 = \"[0-9a-f]{64}\"", 'sha256 = "' + "0" * 64 + '"'),
        "pylock.toml: packages[abicore].wheels[1].hashes.sha256 = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _toml_sub(r"^environments = .*$", "environments = ['sys_platform == \"win32\"']"),
        "pylock.toml: environments = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _toml_sub(r"^requires-python = .*$", 'requires-python = ">=3"'),
        "pylock.toml: requires-python = ",
    ),
    ("pylock.toml", "pylock.toml", _add_marker, "pylock.toml: packages[abicore].marker = "),
    ("pylock.toml", "pylock.toml", _foreign_wheel, "pylock.toml: "),
    (
        "pylock.toml",
        "pylock.toml",
        _toml_sub(r"^command = \"lockbuild compile", 'command = "lockbuild compile --pre'),
        "pylock.toml: tool.lockbuild.command = ",
    ),
    (
        "pylock.toml",
        "pylock.build.toml",
        _toml_sub(r"^command = \"lockbuild compile", 'command = "lockbuild compile --pre'),
        "pylock.build.toml: tool.lockbuild.command = ",
    ),
    (
        "pylock.toml",
        "pylock.build.toml",
        _toml_sub(r"^target = \"cpython", 'target = "pypy'),
        "pylock.build.toml: tool.lockbuild.target = ",
    ),
    (
        "pylock.toml",
        "pylock.build.txt",
        _toml_sub(r"^abicore==2.0", "abicore==1.0"),
        "pylock.build.txt line ",
    ),
    ("pylock.toml", "pylock.build.txt", lambda t: t + "evil==1.0\n", "pylock.build.txt line "),
    (
        "requirements.txt",
        "requirements.txt",
        _toml_sub(r"^abicore==2.0", "abicore==1.0"),
        "requirements.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        _toml_sub(r"^abicore==2.0", "abicore==1.0"),
        "requirements-build.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        lambda t: t + "evil==1.0\n",
        "requirements-build.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        _toml_sub(r"^(# lockbuild-target: )cpython", r"\1pypy"),
        "requirements-build.txt line ",
    ),
    (
        "requirements.txt",
        "requirements.txt",
        _toml_sub(r"^#    lockbuild compile", "#    lockbuild compile --pre"),
        "requirements.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        _toml_sub(r"^    #   abiext \(build\)", "    #   -r requirements.in"),
        "requirements-build.txt line ",
    ),
]

COMMANDS = {
    "check": lambda lock: ["check", "-o", lock],
    "sync --dry-run": lambda lock: ["sync", lock, "--python", "nowhere/python", "--dry-run"],
    "sync": lambda lock: ["sync", lock, "--python", "nowhere/python"],
    "wheelhouse": lambda lock: ["wheelhouse", lock, "-o", "wheels"],
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("lock", "edited", "edit", "named"), EDITS)
def test_an_edited_lock_is_refused_everywhere(
    tmp_path: Path,
    env: dict[str, str],
    compiled: dict[str, Path],
    lock: str,
    edited: str,
    edit: Edit,
    named: str,
) -> None:
    root = tmp_path / "p"
    shutil.copytree(compiled[lock], root)
    path = root / edited
    text = path.read_text()
    changed = edit(text)
    assert changed != text, "the edit applies"
    path.write_text(changed)
    before = _files(root)
    for command, argv in COMMANDS.items():
        proc = lockbuild(argv(lock), env, root, check=False)
        assert proc.returncode == 1, (command, proc.stderr)
        assert "Traceback" not in proc.stderr, command
        lines = proc.stderr.strip().splitlines()
        if command == "check":
            # An edited command also reads as changed options: the field is named too.
            named_lines = [line for line in lines if line.startswith(f"lockbuild check: {named}")]
            assert named_lines, (command, lines)
            assert lines[-1].startswith("run: lockbuild compile"), (command, lines)
        else:
            assert len(lines) == 1, (command, lines)
            assert lines[0].startswith(f"lockbuild: error: {named}"), (command, lines)
            assert "recompile both with: lockbuild compile" in lines[0]
        assert _files(root) == before, command


@pytest.mark.parametrize("lock", ["requirements.txt", "pylock.toml"])
def test_an_unedited_lock_is_accepted(
    tmp_path: Path, env: dict[str, str], compiled: dict[str, Path], lock: str
) -> None:
    root = tmp_path / "p"
    shutil.copytree(compiled[lock], root)
    proc = lockbuild(["check", "-o", lock], env, root, check=False)
    assert proc.returncode == 0, proc.stderr
    dry = lockbuild(
        ["sync", lock, "--python", "nowhere/python", "--dry-run"], env, root, check=False
    )
    # Past the pair check: what stops it now is the missing interpreter.
    assert dry.returncode == 2 and "nowhere/python" in dry.stderr, dry.stderr
