"""The two rules of the build side on the loopback index: joint where the runtime is at
stake, shared where it fits and scoped where it cannot be. Two sdists pin different
releases of a build-only tool: compile (text and pylock pair) gives one of them an
environment of its own, and sync (pip and uv) builds each in its exact environment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from lockbuild.build import provenance
from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, new_venv, pins, run, write

UV = Path(sys.executable).parent / "uv"
SCOPED = "# lockbuild-scoped: first==1.0: tool==1.0"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("scoped-index"))
    idx.wheel("tool", "1.0")
    idx.wheel("tool", "2.0")
    idx.wheel("lib", "1.0")
    idx.wheel("lib", "2.0")
    # Built from source (no wheels), each pinning its own release of a build-only tool.
    idx.sdist("first", "1.0", build_requires=["tool==1.0"])
    idx.sdist("second", "1.0", build_requires=["tool==2.0"])
    idx.sdist("third", "1.0", build_requires=["tool>=2"])
    # A build requirement on a project the runtime pins: the joint rule.
    idx.sdist("oldext", "1.0", build_requires=["lib==1.0"])
    idx.write()
    return idx


def _dist_info(python: str, name: str) -> Path:
    venv = Path(python).parent.parent
    (info,) = venv.glob(f"lib/python*/site-packages/{name}-*.dist-info")
    return info


def _build_env(python: str, module: str) -> dict[str, str]:
    """What the fixture backend saw in the build environment (written into the wheel)."""
    venv = Path(python).parent.parent
    (path,) = venv.glob(f"lib/python*/site-packages/{module}/_build_env.py")
    namespace: dict[str, dict[str, str]] = {}
    exec(path.read_text(), namespace)  # noqa: S102 - a file the fixture backend wrote
    return namespace["BUILD_ENV"]


@pytest.mark.parametrize("output", ["requirements.txt", "pylock.toml"])
def test_builds_that_disagree_about_a_tool_compile_and_sync(
    tmp_path: Path, env: dict[str, str], server: IndexServer, output: str
) -> None:
    write(tmp_path / "requirements.in", "first\nsecond\nthird\n")
    args = compile_args(server.url, tmp_path / "cache", "-o", output)
    args.remove("-q")
    proc = lockbuild(args, env, tmp_path)
    text_build = tmp_path / (
        "requirements-build.txt" if output == "requirements.txt" else "pylock.build.txt"
    )
    # Shared: the version two builds take; first gets its own environment.
    assert pins(text_build) == {"tool": "2.0"}
    build_text = text_build.read_text()
    assert SCOPED in build_text
    assert "lockbuild wheelhouse" in build_text and "--find-links" in build_text
    assert (
        "lockbuild: note: first==1.0 is built in an environment of its own (tool==1.0)"
        in proc.stderr
    )
    if output == "pylock.toml":
        pylock_build = (tmp_path / "pylock.build.toml").read_text()
        assert 'scoped = ["first==1.0: tool==1.0"]' in pylock_build
        assert '"first 1.0" = ["tool==1.0"]' in pylock_build
        assert '"second 1.0" = ["tool==2.0"]' in pylock_build
    check = ["check", "-o", output] if output != "requirements.txt" else ["check"]
    lockbuild(check, env, tmp_path)
    # why sees the pin of a build's own environment, beside the shared one.
    said = lockbuild(["why", "tool", output], env, tmp_path).stdout.splitlines()
    assert said == [
        "requirements.in -> first (build, own environment) -> tool==1.0",
        "requirements.in -> second (build) -> tool",
        "requirements.in -> third (build) -> tool",
    ], said
    # The scoped environment is covered by the pair's digests: an edit of it is refused.
    edited = tmp_path / (
        "requirements-build.txt" if output == "requirements.txt" else "pylock.build.toml"
    )
    text = edited.read_text()
    edited.write_text(text.replace("first==1.0: tool==1.0", "first==1.0: tool==2.0"))
    proc = lockbuild(check, env, tmp_path, check=False)
    assert proc.returncode == 1
    assert "scoped" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("installer", "hashes", "output"),
    [
        ("pip", False, "requirements.txt"),
        ("uv", False, "requirements.txt"),
        ("pip", True, "requirements.txt"),
        ("uv", False, "pylock.toml"),
    ],
)
def test_sync_builds_each_in_its_own_environment(
    tmp_path: Path,
    env: dict[str, str],
    server: IndexServer,
    installer: str,
    hashes: bool,
    output: str,
) -> None:
    if installer == "uv" and not UV.exists():
        pytest.skip("uv is not installed beside lockbuild")
    write(tmp_path / "requirements.in", "first\nsecond\n")
    extra = ["--generate-hashes"] if hashes else []
    lockbuild(compile_args(server.url, tmp_path / "cache", "-o", output, *extra), env, tmp_path)
    if hashes:
        # The scoped build's own pin has its hashes in the header (covered by the digests).
        build_text = (tmp_path / "requirements-build.txt").read_text()
        assert "# lockbuild-scoped-hashes: tool==1.0 sha256:" in build_text
    python = new_venv(tmp_path / "venv", env, with_pip=installer == "pip")
    sync = ["sync", output, "--python", python, "--installer", installer]
    proc = lockbuild([*sync, "--index-url", server.url], env, tmp_path)
    # Built now, or found in the wheelhouse an earlier build with the same record left.
    assert re.search(r"(built|reused) first 1\.0 against tool==1\.0\n", proc.stdout)
    assert re.search(r"(built|reused) second 1\.0 against tool==2\.0\n", proc.stdout)
    run([python, "-c", "import first, second"], env)
    for name, tool in (("first", "1.0"), ("second", "2.0")):
        record = provenance.parse_record(
            (_dist_info(python, name) / "lockbuild-build.json").read_text()
        )
        assert record is not None and record.environment == (f"tool=={tool}",)
        assert _build_env(python, name)["tool"] == tool
    # The tool is a build-only project: not in the runtime environment.
    assert not list(Path(python).parent.parent.glob("lib/python*/site-packages/tool-*.dist-info"))
    # A second sync finds both builds as the lock prescribes them.
    again = lockbuild([*sync, "--index-url", server.url], env, tmp_path)
    assert "nothing to do" in again.stdout


def test_wheelhouse_builds_the_scoped_one_in_its_environment(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "first\nsecond\n")
    lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path)
    dest = tmp_path / "wheels"
    lockbuild(["wheelhouse", "-o", dest, "--python", sys.executable], env, tmp_path)
    (wheel,) = dest.glob("first-1.0-*.whl")
    record = provenance.read_wheel_record(wheel)
    assert record is not None and record.environment == ("tool==1.0",)


def test_a_runtime_pin_still_refuses_a_build_requirement(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "lib>=2\noldext\n")
    proc = lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path, check=False)
    assert proc.returncode == 1
    assert "oldext 1.0 (build) requires lib==1.0" in proc.stderr
    assert "lib>=2" in proc.stderr
    assert not (tmp_path / "requirements.txt").exists()
