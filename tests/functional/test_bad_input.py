"""Bad input to ``lockbuild compile``: one clear error line naming the file and line (or
the package and file), exit code 1 (2 for usage errors), no traceback, and no file in the
working directory created or changed.

Every case runs twice, once with a previous lock pair in place and once without; all runs
start together (they are independent), then each parametrized test checks its own run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lockbuild.lock.formats import read_lock
from tests.fixtures import FixtureIndex, isolated_env, lbbackend
from tests.helpers import LOCKBUILD

OLD_LOCK = b"# a previous lockfile\nbeta==0.9\n"
MAX_LINE = 1200  # no line lockbuild prints is longer
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
    links: dict[str, str] = field(default_factory=dict)  # symlink -> target
    fifos: tuple[str, ...] = ()  # named pipes made in the working directory
    absent: tuple[str, ...] = ()  # what the output must not say (a hint that does not apply)


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
    # Command-line usage (exit code 2) is in tests/unit/test_usage_errors.py, in process.
    Case(
        "missing-build-constraint-file",
        {"requirements.in": "beta\n"},
        ("--build-constraint nothere.txt: no such file",),
        args=("--build-constraint", "nothere.txt"),
    ),
    Case(
        "invalid-requires-dist-in-wheel-metadata",
        {"requirements.in": "badwheelmeta\n"},
        (
            "cannot resolve: no usable release of badwheelmeta: every release that fits has "
            "metadata no installer reads:",
            "ruled out badwheelmeta 1.0: metadata: "
            "badwheelmeta-1.0-py3-none-any.whl: metadata has an invalid Requires-Dist 'foo >>= 1'",
        ),
        absent=("build backend", "older build tools"),  # no backend ran: it is a wheel
        one_line=False,  # the only release is ruled out: the notice, then the error
    ),
    Case(
        "invalid-requires-dist-in-pkg-info",
        {"requirements.in": "badpkginfo\n"},
        (
            "cannot resolve: no usable release of badpkginfo",
            "ruled out badpkginfo 1.0: metadata: "
            "badpkginfo-1.0.tar.gz: metadata has an invalid Requires-Dist 'foo >>= 1'",
        ),
        one_line=False,  # the only release is ruled out: the notice, then the error
    ),
    Case(
        "hook-answer-not-requirement-strings",
        {"requirements.in": "hooklist\n"},
        (
            "cannot resolve: no usable release of hooklist",
            "ruled out hooklist 1.0: get_requires_for_build_wheel: returned list, "
            "not a list of requirement strings",
        ),
        one_line=False,  # the release is ruled out: a notice, then the resolution error
    ),
    Case(
        "backend-path-outside-the-tree",
        {"requirements.in": "bpath\n"},
        ("bpath-1.0.tar.gz: pyproject.toml: backend-path entry '../outside' is outside",),
    ),
    Case(
        "metadata-directory-outside-the-one-given",
        {"requirements.in": "evilmeta\n"},
        (
            "cannot resolve: no usable release of evilmeta",
            "ruled out evilmeta 1.0: prepare_metadata_for_build_wheel: returned an invalid "
            ".dist-info name '../../../../etc'",
        ),
        one_line=False,
    ),
    Case(
        "hook-exits-without-answering",
        {"requirements.in": "silenthook\n"},
        (
            "cannot resolve: no usable release of silenthook",
            "ruled out silenthook 1.0: get_requires_for_build_wheel: ended (exit 0) "
            "without an answer",
        ),
        one_line=False,
    ),
    Case(
        "hook-metadata-not-utf8",
        {"requirements.in": "latinmeta\n"},
        (
            "cannot resolve: no usable release of latinmeta",
            "ruled out latinmeta 1.0: prepare_metadata_for_build_wheel: wrote "
            "latinmeta-1.0.dist-info/METADATA, which is not UTF-8 (byte 63)",
        ),
        one_line=False,
    ),
    Case(
        "hook-answers-20000-requirements",
        {"requirements.in": "manyreqs\n"},
        (
            "no usable release of manyreqs: the build requirements of every release that fits "
            "could not be installed:",
            "ruled out manyreqs 1.0: installing build requirements req0, req1, ",
            "(and 19990 more)",
        ),
        absent=("older build tools",),
        one_line=False,
    ),
    Case(
        "python-version-of-50-digits",
        {"requirements.in": "beta\n"},
        ("--python-version 3.999", "expected X.Y or X.Y.Z (3.0 to 3.99)"),
        args=("--python-version", "3." + "9" * 50),
        code=2,
    ),
    Case(
        "exclude-newer-beyond-the-calendar",
        {"requirements.in": "beta\n"},
        ("--exclude-newer '99999999999 days'",),
        args=("--exclude-newer", "99999999999 days"),
        code=2,
    ),
    Case(
        "version-of-5000-digits",
        {"requirements.in": "beta==" + "9" * 5000 + "\n"},
        (
            "requirements.in line 1: invalid requirement 'beta==999",
            "(and 4806 more characters): version 999",
            "(5000 characters) cannot be compared",
        ),
    ),
    Case(
        "platform-not-a-tag",
        {"requirements.in": "beta\n"},
        ("--platform 'win95': not a platform tag",),
        args=("--platform", "win95"),
        code=2,
    ),
    Case(
        "long-path",
        {"requirements.in": "-r " + "d/" * 2500 + "x.txt\n"},
        ("requirements.in line 1: cannot read d/d/d/", " more characters)"),
    ),
    Case(
        "over-long-name-on-a-file-index",
        {"requirements.in": "a" * 300 + "\n"},
        ("no distributions of " + "a" * 300 + " found", "requirements.in line 1: "),
        one_line=False,
    ),
    Case(
        "hash-malformed",
        {"requirements.in": "beta --hash=sha256:zz\n"},
        ("requirements.in line 1: invalid --hash 'sha256:zz': expected sha256:<hex digest>",),
    ),
    Case(
        "hash-of-another-algorithm",
        {"requirements.in": "beta --hash=sha512:" + "ab" * 64 + "\n"},
        ("requirements.in line 1: --hash sha512:...: only sha256 hashes can be checked",),
    ),
    Case(
        "hash-no-file-has",
        {"requirements.in": "beta==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"},
        (
            "requirements.in line 1: --hash for beta: no file of beta 1.0 "
            "(the version locked) has that hash",
        ),
    ),
    Case(
        "project-dependencies-not-a-list",
        {"pyproject.toml": '[project]\nname = "p"\nversion = "1"\ndependencies = "beta"\n'},
        ("pyproject.toml: [project] dependencies is not a list of strings",),
        args=("pyproject.toml",),
    ),
    Case(
        "project-extra-not-a-list",
        {
            "pyproject.toml": '[project]\nname = "p"\nversion = "1"\ndependencies = []\n'
            '[project.optional-dependencies]\nfast = "beta"\n'
        },
        ("pyproject.toml: [project.optional-dependencies] fast is not a list of strings",),
        args=("pyproject.toml",),
    ),
    Case(
        "fifo-input",
        {},
        ("pipe.in: not a regular file",),
        args=("pipe.in", "-o", "out.txt"),
        fifos=("pipe.in",),
    ),
    Case(
        "fifo-include",
        {"requirements.in": "beta\n-r pipe.txt\n"},
        ("requirements.in line 2: pipe.txt: not a regular file",),
        fifos=("pipe.txt",),
    ),
    Case(
        "requirements-file-url",
        {"requirements.in": "-r https://127.0.0.1:9/more.txt\n"},
        (
            "requirements.in line 1: --requirement https://127.0.0.1:9/more.txt: "
            "requirements files are read from local paths only",
        ),
    ),
    Case(
        "constraints-file-url",
        {"requirements.in": "beta\n-c http://127.0.0.1:9/c.txt\n"},
        ("requirements.in line 2: --constraint http://127.0.0.1:9/c.txt: requirements files",),
    ),
    Case(
        "constraint-with-extras",
        {"requirements.in": "-c cons.txt\nbeta\n", "cons.txt": "beta[fast]==1.0\n"},
        ("cons.txt line 1: a constraint cannot have extras: 'beta[fast]==1.0'",),
    ),
    Case(
        "build-deps-for-config-value",
        {
            "requirements.in": "beta\n",
            "pyproject.toml": '[tool.lockbuild]\nbuild-deps-for = "some"\n',
        },
        ("pyproject.toml: [tool.lockbuild] build-deps-for must be 'needed' or 'all', not 'some'",),
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


HOSTILE_BACKEND = """
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return "../../../../etc"
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("not built in these tests")
"""


# A backend that ends its process in the hook without answering.
SILENT_BACKEND = """
import os
def get_requires_for_build_wheel(config_settings=None):
    os._exit(0)
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os._exit(0)
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    os._exit(0)
"""

# A backend whose METADATA is Latin-1, not UTF-8.
LATIN1_BACKEND = """
import os
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    path = os.path.join(metadata_directory, "latinmeta-1.0.dist-info")
    os.makedirs(path)
    with open(os.path.join(path, "METADATA"), "wb") as f:
        f.write(b"Metadata-Version: 2.1\\nName: latinmeta\\nVersion: 1.0\\nSummary: caf\\xe9\\n")
    return "latinmeta-1.0.dist-info"
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("not built in these tests")
"""

# A backend whose get_requires_for_build_wheel answers 20,000 requirements.
MANY_BACKEND = """
def get_requires_for_build_wheel(config_settings=None):
    return ["req%d" % i for i in range(20000)]
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    raise RuntimeError("not reached")
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("not built in these tests")
"""


def _hostile_backend_sdist(dest: Path, name: str, backend: str = HOSTILE_BACKEND) -> Path:
    """An sdist whose in-tree backend is ``backend`` (by default one that names a metadata
    directory outside the one given)."""
    base = f"{name}-1.0"
    members = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.2\nName: {name}\nVersion: 1.0\n"
        "Dynamic: Requires-Dist\n".encode(),
        f"{base}/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "hostile"\n'
        b'backend-path = ["_backend"]\n',
        f"{base}/_backend/hostile.py": backend.encode(),
    }
    path = dest / f"{base}.tar.gz"
    lbbackend.write_tar_gz(str(path), members.items())
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
    idx.wheel("badwheelmeta", "1.0", requires_dist=["foo >>= 1"])
    idx.sdist("badpkginfo", "1.0", requires_dist=["foo >>= 1"])
    idx.sdist("hooklist", "1.0", dynamic_build_requires=[1, 2])  # type: ignore[list-item]
    idx.sdist(
        "bpath",
        "1.0",
        pyproject='[build-system]\nrequires = []\nbuild-backend = "lbbackend"\n'
        'backend-path = ["../outside"]\n',
    )
    idx.add(_hostile_backend_sdist(root, "evilmeta"))
    idx.add(_hostile_backend_sdist(root, "silenthook", SILENT_BACKEND))
    idx.add(_hostile_backend_sdist(root, "latinmeta", LATIN1_BACKEND))
    idx.add(_hostile_backend_sdist(root, "manyreqs", MANY_BACKEND))
    idx.sdist("withbuild", "1.0", build_requires=["bhelper"])
    idx.wheel("bhelper", "1.0")
    idx.sdist("newbad", "1.0")
    idx.sdist("newbad", "2.0", requires_dist=["foo >>= 1"])
    idx.wheel("newbadwheel", "1.0")
    idx.wheel("newbadwheel", "2.0", requires_dist=["foo >>= 1"])
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
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    for link, target in case.links.items():
        (work / link).symlink_to(target)
    for fifo in case.fifos:
        os.mkfifo(work / fifo)
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
    # Every line lockbuild prints is bounded, whatever it echoes.
    assert max(map(len, stderr.splitlines()), default=0) <= MAX_LINE, stderr[:2000]
    if case.code == 1 or case.one_line:
        # Notices of ruled-out releases may come first; then the error.
        said = [line for line in stderr.splitlines() if not line.startswith("lockbuild: note: ")]
        assert said and said[0].startswith("lockbuild: error: "), stderr
    for expected in case.expect:
        assert expected in stderr, stderr
    for wrong in case.absent:
        assert wrong not in stderr, stderr
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


# ------------------------------------------------------------- edited pairs: check and sync

ZEROS = "0" * 64


@dataclass(frozen=True)
class PairEdit:
    id: str
    file: str  # the file edited
    edit: Callable[[str, Path], str]  # (text, the other pair's directory) -> edited text
    expect: str  # the problem line; {line} is the line number of ``marker`` after the edit
    marker: str = ""


def _replace_line(prefix: str, new: str) -> Callable[[str, Path], str]:
    def edit(text: str, _other: Path) -> str:
        lines = text.splitlines(keepends=True)
        index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        lines[index] = new + "\n"
        return "".join(lines)

    return edit


def _sub(old_pattern: str, new: str) -> Callable[[str, Path], str]:
    def edit(text: str, _other: Path) -> str:
        edited = re.sub(old_pattern, new, text, count=1, flags=re.MULTILINE)
        assert edited != text
        return edited

    return edit


PAIR_EDITS = [
    PairEdit(
        "index-url-edited",
        "requirements.txt",
        _replace_line("--index-url ", "--index-url http://127.0.0.1:9/simple/"),
        "requirements.txt line {line} was edited after compile: "
        "--index-url http://127.0.0.1:9/simple/",
        "--index-url http://127.0.0.1:9/",
    ),
    PairEdit(
        "extra-index-url-added",
        "requirements.txt",
        _sub(r"^(--index-url .*)$", r"\1\n--extra-index-url http://127.0.0.1:9/simple/"),
        "requirements.txt line {line} was added after compile: "
        "--extra-index-url http://127.0.0.1:9/simple/",
        "--extra-index-url",
    ),
    PairEdit(
        "hash-edited",
        "requirements.txt",
        _sub(r"(beta==1.0 \\\n    --hash=sha256:)[0-9a-f]{64}", rf"\g<1>{ZEROS}"),
        f"requirements.txt line {{line}} was edited after compile: beta==1.0 --hash=sha256:{ZEROS}",
        "beta==1.0",
    ),
    PairEdit(
        "version-edited",
        "requirements.txt",
        _sub(r"^beta==1.0", "beta==0.9"),
        "requirements.txt line {line} was edited after compile: beta==0.9 --hash=sha256:",
        "beta==0.9",
    ),
    PairEdit(
        "pin-removed",
        "requirements.txt",
        _sub(r"^beta==1.0 \\\n    --hash=sha256:[0-9a-f]{64}\n    # via .*\n", ""),
        "requirements.txt: 2 line(s) removed after compile",
    ),
    PairEdit(
        "build-file-hash-edited",
        "requirements-build.txt",
        _sub(r"(bhelper==1.0 \\\n    --hash=sha256:)[0-9a-f]{64}", rf"\g<1>{ZEROS}"),
        "requirements-build.txt line {line} was edited after compile: "
        f"bhelper==1.0 --hash=sha256:{ZEROS}",
        "bhelper==1.0",
    ),
    PairEdit(
        "target-edited",
        "requirements.txt",
        _replace_line("# lockbuild-target: ", "# lockbuild-target: cpython 3.99 linux x86_64"),
        "requirements.txt line {line} was edited after compile: "
        "lockbuild-target: cpython 3.99 linux x86_64",
        "# lockbuild-target: ",
    ),
    PairEdit(
        "older-lockbuild-digest",
        "requirements.txt",
        _sub(r"^(# lockbuild-build-digest: ).*$", rf"\g<1>sha256:{ZEROS}"),
        "requirements.txt was written by an older lockbuild whose digests do not cover "
        "every field: recompile",
    ),
    PairEdit(
        "build-file-of-another-compile",
        "requirements-build.txt",
        lambda _text, other: (other / "requirements-build.txt").read_text(),
        "requirements.txt and requirements-build.txt were not compiled together",
    ),
]


@pytest.fixture(scope="module")
def compiled_pairs(
    tmp_path_factory: pytest.TempPathFactory, sources: tuple[str, Path]
) -> tuple[Path, Path]:
    """A pair compiled from flags (hashes, an index URL), and one of another input."""
    base = tmp_path_factory.mktemp("pairs")
    made = []
    for name, text in (("pair", "beta\nwithbuild\n"), ("other", "withbuild\n")):
        work = base / name
        work.mkdir()
        (work / "requirements.in").write_text(text)
        subprocess.run(
            [
                *LOCKBUILD,
                "compile",
                "--index-url",
                sources[0],
                "--generate-hashes",
                "--no-build-hooks",
                "--cache-dir",
                str(base / "cache"),
                "-q",
            ],
            cwd=work,
            env=isolated_env(base),
            check=True,
        )
        made.append(work)
    return made[0], made[1]


def _edited_pair(case: PairEdit, pairs: tuple[Path, Path], work: Path) -> dict[str, bytes]:
    pair, other = pairs
    shutil.copytree(pair, work)
    path = work / case.file
    path.write_text(case.edit(path.read_text(), other))
    return _snapshot(work)


def _expected(case: PairEdit, work: Path) -> str:
    if not case.marker:
        return case.expect
    lines = (work / case.file).read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith(case.marker))
    return case.expect.format(line=number)


def test_an_unedited_pair_is_up_to_date(compiled_pairs: tuple[Path, Path]) -> None:
    """Bare check of a lock compiled from flags: the recorded command is what is checked."""
    pair, _ = compiled_pairs
    proc = subprocess.run(
        [*LOCKBUILD, "check"],
        cwd=pair,
        env=isolated_env(pair.parent),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "are up to date" in proc.stdout


@pytest.mark.parametrize("case", PAIR_EDITS, ids=[c.id for c in PAIR_EDITS])
def test_check_names_an_edited_line(
    case: PairEdit, compiled_pairs: tuple[Path, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    before = _edited_pair(case, compiled_pairs, work)
    proc = subprocess.run(
        [*LOCKBUILD, "check"],
        cwd=work,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    expected = f"lockbuild check: {_expected(case, work)}"
    assert any(line.startswith(expected) for line in lines), proc.stderr
    recorded = read_lock(compiled_pairs[0] / "requirements.txt").command
    assert lines[-1] == f"run: {recorded}"
    assert "--generate-hashes" in recorded and "--index-url" in recorded
    assert _snapshot(work) == before


@pytest.mark.parametrize("case", PAIR_EDITS, ids=[c.id for c in PAIR_EDITS])
def test_sync_refuses_an_edited_pair(
    case: PairEdit, compiled_pairs: tuple[Path, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    _edited_pair(case, compiled_pairs, work)
    proc = _sync(work)
    assert proc.stderr.startswith(f"lockbuild: error: {_expected(case, work)}"), proc.stderr
    assert "; recompile both with: lockbuild compile" in proc.stderr


def test_a_byte_order_mark_is_accepted(tmp_path: Path, sources: tuple[str, Path]) -> None:
    """pip reads a requirements file that starts with a UTF-8 BOM; so does compile."""
    (tmp_path / "requirements.in").write_bytes(b"\xef\xbb\xbfbeta\n")
    subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        check=True,
    )
    assert "beta==1.0" in (tmp_path / "requirements.txt").read_text()


def test_a_release_with_invalid_metadata_is_ruled_out(
    tmp_path: Path, sources: tuple[str, Path]
) -> None:
    """newbad 2.0's PKG-INFO has an invalid Requires-Dist: a notice, and 1.0 is locked."""
    (tmp_path / "requirements.in").write_text("newbad\n")
    proc = subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ruled out newbad 2.0: metadata: " in proc.stderr
    assert "invalid Requires-Dist 'foo >>= 1'" in proc.stderr
    assert "newbad==1.0" in (tmp_path / "requirements.txt").read_text()


def test_a_wheel_with_invalid_metadata_is_ruled_out(
    tmp_path: Path, sources: tuple[str, Path]
) -> None:
    """newbadwheel 2.0's wheel metadata has an invalid Requires-Dist: it is only read once
    the resolver has pinned 2.0, and then 2.0 is ruled out with a notice and 1.0 locked."""
    (tmp_path / "requirements.in").write_text("newbadwheel\n")
    proc = subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "ruled out newbadwheel 2.0: metadata: newbadwheel-2.0-py3-none-any.whl: "
        "metadata has an invalid Requires-Dist 'foo >>= 1'"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "newbadwheel==1.0" in (tmp_path / "requirements.txt").read_text()


def test_an_input_hash_is_honored(tmp_path: Path, sources: tuple[str, Path]) -> None:
    """--hash on an input line that a file of the locked version has: the lock is written."""
    wheel = next(Path(urlsplit(sources[0]).path).parent.rglob("beta-1.0-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (tmp_path / "requirements.in").write_text(f"beta --hash=sha256:{digest}\n")
    subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        check=True,
    )
    assert "beta==1.0" in (tmp_path / "requirements.txt").read_text()


# ------------------------------------------------------------------ sync: the lock's target


@pytest.fixture(scope="module")
def other_targets(
    tmp_path_factory: pytest.TempPathFactory, sources: tuple[str, Path]
) -> dict[tuple[str, str], Path]:
    """Locks of beta for targets this interpreter is not, in both formats."""
    made: dict[tuple[str, str], Path] = {}
    base = tmp_path_factory.mktemp("targets")
    env = isolated_env(base)
    for name, flags in TARGET_FLAGS.items():
        for fmt, output in (("text", "requirements.txt"), ("pylock", "pylock.toml")):
            work = base / f"{name}-{fmt}"
            work.mkdir()
            (work / "requirements.in").write_text("beta\n")
            subprocess.run(
                [*LOCKBUILD, "compile", "--index-url", sources[0], "--no-cache", "-q"]
                + ["-o", output, *flags],
                cwd=work,
                env=env,
                check=True,
            )
            made[name, fmt] = work / output
    return made


TARGET_FLAGS = {
    "other-python": ("--python-version", "3.99"),
    "other-platform": ("--platform", "macosx_11_0_arm64"),
    "other-libc": ("--platform", "musllinux_1_2_" + os.uname().machine),
}
LOCKED_FOR = {
    "other-python": "cpython 3.99 linux",
    "other-platform": "macosx_11_0_arm64",
    "other-libc": "musllinux_1_2_",
}
TARGET_COMMANDS = {
    "sync-dry-run": (["sync", "--dry-run", "--system"], "sync"),
    "sync-check": (["sync", "--check", "--system"], "sync"),
    "wheelhouse": (["wheelhouse", "-o", "wheels"], "build"),
}


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="compares against a glibc Linux interpreter",
)
@pytest.mark.parametrize("fmt", ["text", "pylock"])
@pytest.mark.parametrize("command", list(TARGET_COMMANDS))
@pytest.mark.parametrize("target", list(TARGET_FLAGS))
def test_every_command_refuses_a_lock_for_another_target(
    tmp_path: Path,
    other_targets: dict[tuple[str, str], Path],
    target: str,
    command: str,
    fmt: str,
) -> None:
    lock = other_targets[target, fmt]
    work = tmp_path / "work"
    shutil.copytree(lock.parent, work)
    env = isolated_env(tmp_path)
    before = _snapshot(work)
    argv, doing = TARGET_COMMANDS[command]
    args = [*LOCKBUILD, *argv, lock.name, "--python", sys.executable]
    proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    here = f"{sys.implementation.name} {sys.version_info.major}.{sys.version_info.minor}"
    assert lines[0].startswith(f"lockbuild: error: {lock.name} was compiled for cpython ")
    assert LOCKED_FOR[target] in lines[0]
    assert f"{sys.executable} is {here} linux {os.uname().machine} glibc;" in lines[0]
    assert lines[0].endswith(f"or pass --ignore-target to {doing} anyway")
    assert _snapshot(work) == before
    if command == "sync-dry-run":  # asked explicitly, it goes on and says so
        proc = subprocess.run(
            [*args, "--ignore-target"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "going on anyway (--ignore-target)" in proc.stderr
        assert _snapshot(work) == before


# ------------------------------------------------------------ metadata read as installers do


@pytest.fixture(scope="module")
def lenient_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Wheels whose metadata pip and uv read with a warning (the forms real releases carry)."""
    idx = FixtureIndex(tmp_path_factory.mktemp("lenient-index"))
    idx.wheel("beta", "1.0")
    idx.wheel("hiveapi", "0.5.14", requires_python=">=3.6.*", requires_dist=["beta (>=1.0<2)"])
    idx.wheel("quoted", "1.0", requires_python=">= '2.7'")
    idx.wheel("tildeone", "1.0", requires_python="~=3")
    idx.wheel("arrow", "1.0", requires_python="=>3.6", requires_dist=["beta >=1.0,<2',"])
    idx.write()
    return idx.url


@pytest.mark.parametrize("fmt", ["text", "pylock"])
def test_metadata_installers_read_with_a_warning_is_read_with_a_note(
    tmp_path: Path, lenient_index: str, fmt: str
) -> None:
    output = "pylock.toml" if fmt == "pylock" else "requirements.txt"
    (tmp_path / "requirements.in").write_text("hiveapi\nquoted\ntildeone\narrow\n")
    proc = subprocess.run(
        [*LOCKBUILD, "compile", "--index-url", lenient_index, "--no-cache", "-o", output],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    notes = sorted(line for line in proc.stderr.splitlines() if "lockbuild: note: " in line)
    assert len(notes) == 6, proc.stderr
    expected = [
        'arrow-1.0-py3-none-any.whl: invalid Requires-Dist "beta >=1.0,<2\'," read as '
        "'beta >=1.0,<2'",
        "arrow-1.0-py3-none-any.whl: invalid Requires-Python '=>3.6' read as '>=3.6'",
        "hiveapi-0.5.14-py3-none-any.whl: invalid Requires-Dist 'beta (>=1.0<2)' read as "
        "'beta (>=1.0,<2)'",
        "hiveapi-0.5.14-py3-none-any.whl: invalid Requires-Python '>=3.6.*' read as '>=3.6'",
        "quoted-1.0-py3-none-any.whl: invalid Requires-Python \">= '2.7'\" read as '>= 2.7'",
    ]
    assert notes[-1] == (
        "lockbuild: note: tildeone-1.0-py3-none-any.whl: invalid Requires-Python '~=3' "
        "ignored, as pip ignores an invalid Requires-Python"
    )
    for note, text in zip(notes[:-1], expected, strict=True):
        assert note.startswith(f"lockbuild: note: {text} ("), note
    locked = (tmp_path / output).read_text()
    for name in ("hiveapi", "quoted", "tildeone", "arrow", "beta"):
        assert name in locked
