"""Usage errors of ``lockbuild compile`` through click's runner, in process: exit code 2,
one error line naming the option, file or variable (click's own usage lines for an
unknown option), no traceback, and nothing in the working directory created, changed or
removed, with and without a previous lock pair. Nothing here reaches an index: each run
fails before the first fetch (the index URL given is unreachable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbuild.cli.main import main

pytestmark = pytest.mark.unit

OLD_LOCK = b"# a previous lockfile\nbeta==0.9\n"
OLD_BUILD = b"# a previous build file\n"
# Nothing listens on the discard port: a run that got as far as fetching would fail with
# a fetch error (exit 1), not the usage error these cases expect.
UNREACHABLE = "http://127.0.0.1:9/simple"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    expect: str
    args: tuple[str, ...] = ()
    one_line: bool = True
    env: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "unknown-cli-option",
        {"requirements.in": "beta\n"},
        "No such option '--frobnicate'",
        args=("--frobnicate",),
        one_line=False,  # click adds its usage lines
    ),
    Case(
        "output-is-the-input",
        {"requirements.in": "beta\n"},
        "requirements.in: is an input",
        args=("-o", "requirements.in"),
    ),
    Case(
        "output-is-the-build-file",
        {"requirements.in": "beta\n"},
        "the lockfile and the build file are one file",
        args=("--build-output-file", "requirements.txt"),
    ),
    Case(
        "build-constraint-is-the-build-output",
        {"requirements.in": "beta\n", "bc.txt": "beta\n"},
        "bc.txt: is an input; writing it would overwrite the input",
        args=("--build-constraint", "bc.txt", "--build-output-file", "bc.txt"),
    ),
    Case(
        "output-is-the-project-config",
        {"requirements.in": "beta\n", "pyproject.toml": "[tool.lockbuild]\npre = false\n"},
        "pyproject.toml: is an input",
        args=("-o", "pyproject.toml"),
    ),
    Case(
        "output-is-the-project-input",
        {"pyproject.toml": '[project]\nname = "p"\nversion = "1"\ndependencies = ["beta"]\n'},
        "pyproject.toml: is an input",
        args=("pyproject.toml", "-o", "pyproject.toml"),
    ),
    Case(
        "output-is-a-symlink-to-an-input",
        {"requirements.in": "beta\n-c cons.txt\n", "cons.txt": "beta<2\n"},
        "out.txt: is an input",
        args=("-o", "out.txt"),
        links={"out.txt": "cons.txt"},
    ),
    Case(
        "output-is-a-directory",
        {"requirements.in": "beta\n", "sub/keep": ""},
        "sub: is a directory, not a file to write",
        args=("-o", "sub"),
    ),
    Case(
        "output-under-a-regular-file",
        {"requirements.in": "beta\n"},
        "requirements.in/lock.txt: requirements.in is not a directory",
        args=("-o", "requirements.in/lock.txt"),
    ),
    Case(
        "platform-tag-not-a-tag",
        {"requirements.in": "beta\n"},
        "--platform '../../etc': not a platform tag",
        args=("--platform", "../../etc"),
    ),
    Case(
        "workers-zero",
        {"requirements.in": "beta\n"},
        "--workers 0: expected a whole number from 1 to 64",
        args=("--workers", "0"),
    ),
    Case(
        "hook-installer-variable",
        {"requirements.in": "beta\n"},
        "environment variable LOCKBUILD_HOOK_INSTALLER: expected pip or uv, got 'conda'",
        env={"LOCKBUILD_HOOK_INSTALLER": "conda"},
    ),
    Case(
        "bad-timeout-variable",
        {"requirements.in": "beta\n"},
        "LOCKBUILD_TIMEOUT: expected a positive number, got 'soon'",
        env={"LOCKBUILD_TIMEOUT": "soon"},
    ),
]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("previous", [True, False], ids=["previous-pair", "no-pair"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_usage_error(
    case: Case, previous: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name, content in case.files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    for link, target in case.links.items():
        (work / link).symlink_to(target)
    if previous:
        (work / "requirements.txt").write_bytes(OLD_LOCK)
        (work / "requirements-build.txt").write_bytes(OLD_BUILD)
    monkeypatch.chdir(work)
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    env = {"PIP_CONFIG_FILE": "/dev/null", "LOCKBUILD_CACHE_DIR": str(tmp_path / "cache")}
    before = _snapshot(work)
    args = ["compile", "--index-url", UNREACHABLE, "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(main, [*args, "-q", *case.args], env={**env, **case.env})
    stderr = result.stderr
    assert result.exit_code == 2, (stderr, result.exception)
    assert "Traceback" not in stderr and "Traceback" not in result.stdout
    assert case.expect in stderr
    if case.one_line:
        assert stderr.splitlines() == [stderr.strip()]
        assert stderr.startswith("lockbuild: error: ")
    assert _snapshot(work) == before
