"""Bad input to ``lockbuild compile``: one clear error line naming the file and line (or
the package and file), exit code 1 (2 for usage errors), no traceback, and no file in the
working directory created or changed.

Every case runs twice, once with a previous lock pair in place and once without; all runs
start together (they are independent), then each parametrized test checks its own run.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, isolated_env
from tests.helpers import LOCKBUILD

OLD_LOCK = b"# a previous lockfile\nbeta==0.9\n"
OLD_BUILD = b"# a previous build file\n"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]  # written into the working directory
    expect: tuple[str, ...]  # substrings of the error line
    args: tuple[str, ...] = ()
    code: int = 1
    one_line: bool = True  # resolution errors add one line per requirement involved
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "malformed-requirement",
        {"requirements.in": "beta==1.0\nfoo >>= 2\n"},
        ("requirements.in line 2: invalid requirement 'foo >>= 2'",),
    ),
    Case(
        "unclosed-extras",
        {"requirements.in": "# a comment\n\nbeta[\n"},
        ("requirements.in line 3: invalid requirement 'beta['",),
    ),
    Case(
        "missing-r-file",
        {"requirements.in": "beta\n-r nothere.txt\n"},
        ("requirements.in line 2: no such requirements file: nothere.txt",),
    ),
    Case(
        "missing-c-file",
        {"requirements.in": "-c constraints.txt\nbeta\n"},
        ("requirements.in line 1: no such requirements file: constraints.txt",),
    ),
    Case(
        "missing-source-file",
        {},
        ("no such requirements file: missing.in",),
        args=("missing.in", "-o", "requirements.txt"),
    ),
    Case(
        "r-cycle",
        {"requirements.in": "beta\n-r other.in\n", "other.in": "\n-r requirements.in\n"},
        (
            "other.in line 2: requirements files include each other: "
            "requirements.in -> other.in -> requirements.in",
        ),
    ),
    Case(
        "unknown-option-line",
        {"requirements.in": "beta\n--frobnicate yes\n"},
        ("requirements.in line 2: unknown option '--frobnicate'",),
    ),
    Case(
        "unknown-option-after-requirement",
        {"requirements.in": "beta==1.0 --frobnicate\n"},
        ("requirements.in line 1: unknown option '--frobnicate' after a requirement",),
    ),
    Case(
        "option-without-value",
        {"requirements.in": "beta\n-r\n"},
        ("requirements.in line 2: option --requirement needs a value",),
    ),
    Case(
        "url-without-name",
        {"requirements.in": "https://example.invalid/pkg-1.0.tar.gz\n"},
        ("requirements.in line 1: a URL needs a name",),
    ),
    Case(
        "not-utf8",
        {"requirements.in": b"beta\n\xff\xfe\n"},
        ("requirements.in: cannot read",),
    ),
    Case(
        "no-such-package",
        {"requirements.in": "beta\nnosuchpkg>=1\n"},
        ("no distributions of nosuchpkg found", "requirements.in line 2: nosuchpkg>=1"),
        one_line=False,
    ),
    Case(
        "no-matching-version",
        {"requirements.in": "beta>=2\n"},
        ("no version of beta satisfies", "(available: 1.0)", "requirements.in line 1: beta>=2"),
        one_line=False,
    ),
    Case(
        "no-usable-distribution",
        {"requirements.in": "winonly\n"},
        (
            "no version of winonly",
            "usable on",
            "wheels for other platforms",
            "requirements.in line 1: winonly",
        ),
        one_line=False,
    ),
    Case(
        "sdist-not-an-archive",
        {"requirements.in": "junk\n"},
        ("junk-1.0.tar.gz: not a valid sdist archive",),
    ),
    Case(
        "sdist-truncated",
        {"requirements.in": "cut\n"},
        ("cut-1.0.tar.gz: not a valid sdist archive",),
    ),
    Case(
        "pyproject-not-toml",
        {"requirements.in": "badtoml\n"},
        ("badtoml-1.0.tar.gz: pyproject.toml is not valid TOML",),
    ),
    Case(
        "build-requires-invalid-requirement",
        {"requirements.in": "badreq\n"},
        ("badreq-1.0.tar.gz: pyproject.toml: invalid build requirement 'foo >>= 1'",),
    ),
    Case(
        "build-requires-not-a-list",
        {"requirements.in": "notlist\n"},
        ("notlist-1.0.tar.gz: pyproject.toml: build-system.requires is not a list of strings",),
    ),
    Case(
        "build-requires-not-strings",
        {"requirements.in": "numbers\n"},
        ("numbers-1.0.tar.gz: pyproject.toml: build-system.requires is not a list of strings",),
    ),
    # Command-line usage: exit code 2.
    Case(
        "unknown-cli-option",
        {"requirements.in": "beta\n"},
        ("No such option '--frobnicate'",),
        args=("--frobnicate",),
        code=2,
        one_line=False,  # click adds its usage lines
    ),
    Case(
        "output-is-the-input",
        {"requirements.in": "beta\n"},
        ("requirements.in: is an input",),
        args=("-o", "requirements.in"),
        code=2,
    ),
    Case(
        "output-is-the-build-file",
        {"requirements.in": "beta\n"},
        ("the lockfile and the build file are one file",),
        args=("--build-output-file", "requirements.txt"),
        code=2,
    ),
    Case(
        "bad-timeout-variable",
        {"requirements.in": "beta\n"},
        ("LOCKBUILD_TIMEOUT: expected a positive number, got 'soon'",),
        code=2,
        env={"LOCKBUILD_TIMEOUT": "soon"},
    ),
]


def _truncated_sdist(dest: Path) -> Path:
    """A gzip stream cut off in the middle of the tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = b"Metadata-Version: 2.2\nName: cut\nVersion: 1.0\n" * 200
        info = tarfile.TarInfo("cut-1.0/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    path = dest / "cut-1.0.tar.gz"
    path.write_bytes(packed[: len(packed) // 2])
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A file:// index and a find-links directory of broken sdists."""
    root = tmp_path_factory.mktemp("bad-index")
    idx = FixtureIndex(root / "index")
    idx.wheel("beta", "1.0")
    idx.wheel("winonly", "1.0", tag="cp27-cp27m-win32")
    idx.sdist("badtoml", "1.0", pyproject="[build-system\nrequires = [\n")
    idx.sdist("badreq", "1.0", pyproject='[build-system]\nrequires = ["foo >>= 1"]\n')
    idx.sdist("notlist", "1.0", pyproject='[build-system]\nrequires = "setuptools"\n')
    idx.sdist("numbers", "1.0", pyproject="[build-system]\nrequires = [1, 2]\n")
    idx.write()
    links = root / "links"
    links.mkdir()
    (links / "junk-1.0.tar.gz").write_bytes(b"this is not a tarball\n" * 10)
    _truncated_sdist(links)
    return idx.url, links


@dataclass(frozen=True)
class Run:
    proc: subprocess.CompletedProcess[str]
    before: dict[str, bytes]
    after: dict[str, bytes]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _prepare(case: Case, work: Path, previous: bool) -> None:
    work.mkdir(parents=True)
    for name, content in case.files.items():
        data = content.encode() if isinstance(content, str) else content
        (work / name).write_bytes(data)
    if previous:
        (work / "requirements.txt").write_bytes(OLD_LOCK)
        (work / "requirements-build.txt").write_bytes(OLD_BUILD)


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, sources: tuple[str, Path]
) -> Iterator[dict[tuple[str, bool], Run]]:
    index_url, links = sources
    base = tmp_path_factory.mktemp("bad-runs")
    jobs = []
    for case in CASES:
        for previous in (True, False):
            work = base / f"{case.id}-{'previous' if previous else 'fresh'}"
            _prepare(case, work, previous)
            env = isolated_env(work.parent, **case.env)
            args = [
                *LOCKBUILD,
                "compile",
                "--index-url",
                index_url,
                "--find-links",
                str(links),
                "--cache-dir",
                str(base / f"cache-{case.id}-{previous}"),
                "-q",
                *case.args,
            ]
            jobs.append(((case.id, previous), work, args, env))

    def run(job: tuple[tuple[str, bool], Path, list[str], dict[str, str]]) -> Run:
        _, work, args, env = job
        before = _snapshot(work)
        proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        return Run(proc, before, _snapshot(work))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, jobs))
    yield {job[0]: result for job, result in zip(jobs, results, strict=True)}


@pytest.mark.parametrize("previous", [True, False], ids=["previous-pair", "no-pair"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, previous: bool, runs: dict[tuple[str, bool], Run]) -> None:
    result = runs[(case.id, previous)]
    proc = result.proc
    stderr = proc.stderr
    assert proc.returncode == case.code, stderr
    assert "Traceback" not in stderr and "Traceback" not in proc.stdout
    if case.one_line:
        assert len(stderr.strip().splitlines()) == 1, stderr
    if case.code == 1 or case.one_line:
        assert stderr.startswith("lockbuild: error: "), stderr
    for expected in case.expect:
        assert expected in stderr, stderr
    # Nothing in the working directory was created, changed or removed.
    assert result.after == result.before
    if previous:
        assert result.after["requirements.txt"] == OLD_LOCK
        assert result.after["requirements-build.txt"] == OLD_BUILD
    else:
        assert "requirements.txt" not in result.after
        assert "requirements-build.txt" not in result.after


# --------------------------------------------------------------------------- sync


def _sync(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    before = _snapshot(work)
    proc = subprocess.run(
        [*LOCKBUILD, "sync", *args, "--dry-run", "--python", sys.executable],
        cwd=work,
        env=isolated_env(work.parent),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert _snapshot(work) == before
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc


def test_sync_refuses_a_file_that_is_not_a_lockfile(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("beta==1.0\n")
    proc = _sync(work, "requirements.txt")
    assert proc.stderr.startswith(
        "lockbuild: error: requirements.txt is not a lockfile written by lockbuild compile"
    )


def test_sync_refuses_a_build_file_of_another_lockfile(
    tmp_path: Path, sources: tuple[str, Path]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.in").write_text("beta\n")
    subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"],
        cwd=work,
        env=isolated_env(tmp_path),
        check=True,
    )
    build = work / "requirements-build.txt"
    text = build.read_text()
    digest = text.split("# lockbuild-lock-digest: ")[1].split()[0]
    build.write_text(text.replace(digest, "sha256:" + "0" * 64))
    proc = _sync(work)
    assert proc.stderr.startswith(
        "lockbuild: error: requirements-build.txt does not belong to requirements.txt"
    )
