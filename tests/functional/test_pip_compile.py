"""pip-compile's options on ``lockbuild compile``: with the same flags the lockfile body
(everything below the header) is byte-identical to real pip-compile's on the loopback
index, one row per option; and the flags a real project's Makefile passes run unchanged."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import LOCKBUILD, run, write

PIP_COMPILE = str(Path(sys.executable).with_name("pip-compile"))

INPUT = 'alpha ; python_version >= "3.8"\nneedsx\nusesst[x]\nsrcpkg\n'
CONSTRAINTS = "beta<1.1\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    idx.wheel("alpha", "1.0", requires_dist=["beta>=1", 'epsilon; python_version < "3"'])
    idx.wheel("beta", "1.0")
    idx.wheel("beta", "1.1")
    idx.wheel("gamma", "1.0", extras=["fast"], requires_dist=['delta; extra == "fast"'])
    idx.wheel("delta", "1.0")
    idx.wheel("epsilon", "1.0")
    # An extra asked of a dependency, and one asked that the project does not declare.
    idx.wheel("needsx", "1.0", requires_dist=["gamma[fast]>=1", "epsilon[a]"])
    # pip-compile's "unsafe" packages as dependencies.
    idx.wheel("setuptools", "80.0")
    idx.wheel("pip", "25.0")
    idx.wheel("usesst", "1.0", extras=["x"], requires_dist=["setuptools", "beta"])
    # An sdist: lockbuild locks its build side in the build file, not the lockfile.
    idx.sdist("srcpkg", "1.0", build_requires=["delta"], requires_dist=["beta"])
    for name in ("alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl"):
        idx.upload_time(name, "2024-01-01T00:00:00Z")
    idx.write()
    return idx


def body(text: str) -> str:
    """The file below its header: the leading run of comment lines goes."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return "".join(lines[start:])


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caches shared by the rows (each tool's own): pages and builds are read once."""
    return tmp_path_factory.mktemp("caches")


def run_both(
    tmp_path: Path,
    caches: Path,
    env: dict[str, str],
    server: IndexServer,
    lockbuild_flags: list[str],
    pip_compile_flags: list[str],
    text: str = INPUT,
) -> tuple[bytes, bytes]:
    """The lockfile bytes each tool writes for the same input and index."""
    results = []
    for who, command in (
        ("lb", [*LOCKBUILD, "compile", "--cache-dir", str(caches / "lb"), *lockbuild_flags]),
        ("pc", [PIP_COMPILE, "--cache-dir", str(caches / "pc"), *pip_compile_flags]),
    ):
        where = tmp_path / who
        write(where / "requirements.in", text)
        write(where / "c.txt", CONSTRAINTS)
        (where / "links").mkdir()
        shutil.copy(server_file(server, "delta-1.0-py3-none-any.whl"), where / "links")
        run([*command, "--index-url", server.url, "requirements.in"], env, cwd=where)
        results.append((where / "requirements.txt").read_bytes())
    return results[0], results[1]


def server_file(server: IndexServer, name: str) -> Path:
    found = list(Path(server.root).rglob(name))
    assert found, name
    return found[0]


# One row per pip-compile option. Where lockbuild's default differs from pip-compile 7's
# (extras stripped, unsafe packages pinned), the row states the choice for both tools
# unless the row is about that very option.
ROWS: list[list[str]] = [
    ["--allow-unsafe"],
    ["--no-allow-unsafe"],
    ["--strip-extras"],
    ["--no-strip-extras"],
    ["--no-emit-index-url"],
    ["--emit-index-url"],
    ["--no-header"],
    ["--header"],
    ["--no-annotate"],
    ["--annotate"],
    ["--annotation-style", "line"],
    ["--annotation-style", "line", "--no-strip-extras"],
    ["-c", "c.txt"],
    ["--dry-run"],
    ["--unsafe-package", "beta"],
    ["--unsafe-package", "beta", "--no-allow-unsafe"],
    ["--max-rounds", "5"],
    ["--resolver", "backtracking"],
    ["--resolver=legacy"],
    ["--no-emit-options"],
    ["--emit-options"],
    ["--emit-find-links", "-f", "links"],
    ["--no-emit-find-links", "-f", "links"],
    ["--find-links", "links"],
    ["--newline", "crlf"],
    ["--newline", "native"],
    ["--newline", "preserve"],
    ["--generate-hashes"],
    ["--generate-hashes", "--reuse-hashes"],
    ["--generate-hashes", "--no-reuse-hashes"],
    ["--generate-hashes", "--no-allow-unsafe"],
    ["--generate-hashes", "--annotation-style", "line"],
    ["--uploaded-prior-to", "2030-01-01T00:00:00Z"],
    ["--trusted-host", "127.0.0.1"],
    ["--emit-trusted-host", "--trusted-host", "127.0.0.1"],
    ["--no-emit-trusted-host", "--trusted-host", "127.0.0.1"],
    ["--no-config"],
    ["--pip-args", "--pre"],
    ["--pip-args", "--no-binary srcpkg --timeout 30"],
    ["--pre"],
    ["--rebuild"],
    ["--upgrade"],
    ["--no-upgrade"],
    ["--upgrade-package", "beta"],
    ["-v"],
    ["-q"],
    ["--color"],
    ["--no-color"],
    ["--pip-args", "--only-binary alpha"],
    ["--pip-args", "--only-binary=:all: --no-binary srcpkg"],
    ["--extra-index-url", "{extra}"],
    ["--extra-index-url", "{extra}", "--no-emit-index-url"],
    ["--build-isolation"],
    ["--cache-dir", "pc-own-cache"],
]


def _with_choices(flags: list[str]) -> list[str]:
    out = list(flags)
    if not {"--strip-extras", "--no-strip-extras"} & set(flags):
        out.append("--strip-extras")
    if not {"--allow-unsafe", "--no-allow-unsafe"} & set(flags):
        out.append("--allow-unsafe")
    return out


@pytest.mark.parametrize("flags", ROWS, ids=lambda f: " ".join(f))
def test_body_identical_to_pip_compile(
    tmp_path: Path,
    caches: Path,
    env: dict[str, str],
    server: IndexServer,
    flags: list[str],
    request: pytest.FixtureRequest,
) -> None:
    flags = _with_choices(flags)
    if "{extra}" in flags:
        extra_root = tmp_path / "extra"
        extra_index = FixtureIndex(extra_root)
        extra_index.wheel("epsilon", "1.0")
        extra_index.write()
        extra = IndexServer(extra_index.root)
        extra.__enter__()
        request.addfinalizer(lambda: extra.__exit__(None, None, None))
        flags = [extra.url if f == "{extra}" else f for f in flags]
    dry = {"-n", "--dry-run"} & set(flags)
    if dry:
        # Nothing is written: both print the lockfile instead (pip-compile to stderr,
        # lockbuild to stdout), and an existing lockfile is left as it was.
        for who in ("lb", "pc"):
            write(tmp_path / who / "requirements.in", INPUT)
            write(tmp_path / who / "requirements.txt", "old\n")
        lb = run(
            [*LOCKBUILD, "compile", *flags, "--index-url", server.url],
            env,
            cwd=tmp_path / "lb",
        )
        pc = run([PIP_COMPILE, *flags, "--index-url", server.url], env, cwd=tmp_path / "pc")
        for who in ("lb", "pc"):
            assert (tmp_path / who / "requirements.txt").read_text() == "old\n"
        assert "Dry-run, so nothing updated." in lb.stderr
        # pip-compile's stderr has its warnings before the lockfile's first line.
        shown = pc.stderr.split("Dry-run, so nothing updated.")[0]
        shown = shown[shown.index("#\n# This file is autogenerated") :]
        assert body(lb.stdout) == body(shown)
        assert "srcpkg==1.0" in lb.stdout
        return
    lb, pc = run_both(tmp_path, caches, env, server, flags, flags)
    assert body(lb.decode()) == body(pc.decode())
    assert body(lb.decode()).strip()  # not two empty bodies
    assert (b"\r\n" in lb) == (b"\r\n" in pc)


def test_lockbuild_defaults_are_strip_extras_and_allow_unsafe(
    tmp_path: Path, caches: Path, env: dict[str, str], server: IndexServer
) -> None:
    """With no flags, lockbuild writes what pip-compile writes with --strip-extras
    --allow-unsafe (the defaults pip-tools announces for its next major release)."""
    lb, pc = run_both(tmp_path, caches, env, server, [], ["--strip-extras", "--allow-unsafe"])
    assert body(lb.decode()) == body(pc.decode())
    lb_plain, pc_plain = run_both(tmp_path / "plain", caches, env, server, [], [])
    assert body(lb_plain.decode()) != body(pc_plain.decode())  # pip-compile 7 keeps extras
    assert b"usesst[x]==1.0" in pc_plain and b"usesst==1.0" in lb_plain


@pytest.mark.parametrize(
    "flags",
    [
        ["--build-deps-for", "wheel"],
        ["--build-deps-for", "sdist", "--build-deps-for", "editable"],
        ["--all-build-deps"],
        ["--all-build-deps", "--only-build-deps"],
        ["--build-deps-for", "wheel", "--only-build-deps", "--annotation-style", "line"],
    ],
    ids=lambda f: " ".join(f),
)
def test_project_build_deps_identical_to_pip_compile(
    tmp_path: Path, caches: Path, env: dict[str, str], server: IndexServer, flags: list[str]
) -> None:
    """pip-compile's --build-deps-for on a project input: its static build requirements
    and what its backend's hook returns, pinned in the lockfile, annotated alike."""
    outputs = []
    for who, command in (
        ("lb", [*LOCKBUILD, "compile", "--cache-dir", str(caches / "lb")]),
        ("pc", [PIP_COMPILE, "--cache-dir", str(caches / "pc")]),
    ):
        where = tmp_path / who
        make_project(where / "myproj")
        run(
            [*command, *_with_choices(flags), "--index-url", server.url]
            + ["-o", "requirements.txt", "myproj/pyproject.toml"],
            env,
            cwd=where,
        )
        outputs.append((where / "requirements.txt").read_text())
    assert body(outputs[0]) == body(outputs[1])
    assert "::build-system.requires)" in outputs[0]


def make_project(dest: Path) -> Path:
    """A local project: runtime beta, static build requirement delta, and gamma from its
    backend's get_requires_for_build_wheel (the fixtures' in-tree backend)."""
    import tarfile

    from tests.fixtures import make_sdist

    dest.parent.mkdir(parents=True, exist_ok=True)
    sdist = make_sdist(
        dest.parent,
        "myproj",
        "0.1",
        requires_dist=["beta"],
        build_requires=["delta"],
        dynamic_build_requires=["gamma"],
    )
    with tarfile.open(sdist) as archive:
        archive.extractall(dest.parent, filter="data")
    (dest.parent / "myproj-0.1").rename(dest)
    return dest


# Command lines from real projects' Makefiles, run with "pip-compile" replaced by
# "lockbuild compile" and nothing else changed (the index comes from PIP_INDEX_URL, as
# those Makefiles leave it to pip's configuration).
# Each with the flags pip-compile needs to write what lockbuild's defaults write (none
# when the line states both choices).
REAL_COMMAND_LINES = [
    # someengineering/fixcompliance, Makefile
    (
        "pip-compile -q --no-annotate --resolver=backtracking --upgrade --allow-unsafe "
        "--no-header  --unsafe-package n/a --no-strip-extras requirements.in -o requirements.txt",
        [],
    ),
    # hippietilley/almost-binary, Makefile
    (
        "pip-compile -rU --resolver=backtracking --no-emit-index-url requirements.in",
        ["--strip-extras", "--allow-unsafe"],
    ),
]


@pytest.mark.parametrize(("line", "defaults"), REAL_COMMAND_LINES, ids=["fixcompliance", "rU"])
def test_real_project_command_line_runs_unchanged(
    tmp_path: Path, env: dict[str, str], server: IndexServer, line: str, defaults: list[str]
) -> None:
    import shlex

    words = shlex.split(line)
    assert words[0] == "pip-compile"
    env = {**env, "PIP_INDEX_URL": server.url, "PIP_TOOLS_CACHE_DIR": str(tmp_path / "pcc")}
    outputs = []
    for who, command in (("lb", [*LOCKBUILD, "compile"]), ("pc", [PIP_COMPILE, *defaults])):
        where = tmp_path / who
        write(where / "requirements.in", INPUT)
        run([*command, *words[1:]], env, cwd=where)
        outputs.append((where / "requirements.txt").read_text())
    assert body(outputs[0]) == body(outputs[1])
    assert (tmp_path / "lb" / "requirements-build.txt").is_file()
    # check reads the recorded command back and agrees the lock is current.
    assert "#    lockbuild compile " in outputs[0]
    run([*LOCKBUILD, "check"], env, cwd=tmp_path / "lb")
