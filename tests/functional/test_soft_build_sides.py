"""--build-deps-for all against real sdists on the loopback index: the build sides of
releases installed from wheels take the shared build pins where they fit and a scoped
environment where they cannot; only a runtime pin in the way names a release not
buildable (header and notice); runtime pins are the plain lock's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, pins, write

OLDBUILD_LINE = (
    "oldbuild==1.0: not buildable from source under this lock: "
    "corelib<2 conflicts with corelib==2.0 (locked)"
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    idx.wheel("buildtool", "1.0")
    idx.wheel("buildtool", "2.0")
    idx.wheel("dynhelper", "1.0")
    idx.wheel("corelib", "1.0")
    idx.wheel("corelib", "2.0")
    # Installed from wheels; their sdists pin conflicting exact versions of one tool.
    idx.wheel("alpha", "1.0", requires_dist=["corelib"])
    idx.sdist(
        "alpha",
        "1.0",
        requires_dist=["corelib"],
        build_requires=["buildtool==1.0"],
        dynamic_build_requires=["dynhelper"],
    )
    idx.wheel("beta", "1.0")
    idx.sdist("beta", "1.0", build_requires=["buildtool==2.0"])
    # Its build side would need corelib<2, which the runtime pin (2.0) is not.
    idx.wheel("oldbuild", "1.0")
    idx.sdist("oldbuild", "1.0", build_requires=["corelib<2"])
    # Built from source (no wheels): hard build edges, as with --build-deps-for needed.
    idx.sdist("gamma", "1.0", build_requires=["buildtool==1.0"])
    idx.sdist("delta", "1.0", build_requires=["buildtool==2.0"])
    # Its build tool is a runtime pin of the lock: its hook starts before the fitting.
    idx.wheel("early", "1.0", requires_dist=["corelib"])
    idx.sdist(
        "early",
        "1.0",
        requires_dist=["corelib"],
        build_requires=["corelib"],
        dynamic_build_requires=["dynhelper"],
    )
    idx.write()
    return idx


def _compile(
    tmp_path: Path, env: dict[str, str], url: str, *extra: str, quiet: bool = True
) -> tuple[str, Path, Path]:
    args = compile_args(url, tmp_path / "cache", *extra)
    if not quiet:
        args.remove("-q")
    proc = lockbuild(args, env, tmp_path)
    return proc.stderr, tmp_path / "requirements.txt", tmp_path / "requirements-build.txt"


def test_wheel_installed_build_sides_fit_or_are_named(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    text = "beta\nalpha\noldbuild\n"
    write(tmp_path / "plain" / "requirements.in", text)
    _, plain_lock, plain_build = _compile(tmp_path / "plain", env, server.url)
    assert pins(plain_build) == {}

    write(tmp_path / "all" / "requirements.in", text)
    stderr, lock, build = _compile(
        tmp_path / "all", env, server.url, "--build-deps-for", "all", quiet=False
    )
    # Runtime pins are the plain lock's; corelib stays at 2.0 although oldbuild wants <2.
    assert (
        pins(lock)
        == pins(plain_lock)
        == {
            "alpha": "1.0",
            "beta": "1.0",
            "corelib": "2.0",
            "oldbuild": "1.0",
        }
    )
    # buildtool 1.0 and 2.0 each serve one build: the newest is shared (beta's), alpha
    # gets an environment of its own, with what its backend added; oldbuild is named.
    assert pins(build) == {"buildtool": "2.0"}
    build_text = build.read_text()
    assert "    # via beta (build)" in build_text
    assert "# lockbuild-scoped: alpha==1.0: buildtool==1.0, dynhelper==1.0" in build_text
    assert "lockbuild-not-buildable: beta" not in build_text
    oldbuild = "oldbuild==1.0: corelib<2 conflicts with corelib==2.0 (locked)"
    assert f"# lockbuild-not-buildable: {oldbuild}" in build_text
    notes = [line for line in stderr.splitlines() if line.startswith("lockbuild: note:")]
    assert notes == [
        "lockbuild: note: alpha==1.0 is built in an environment of its own (buildtool==1.0, "
        "dynhelper==1.0): pip and uv take one version per project, so install with lockbuild "
        "sync, or lockbuild wheelhouse and then pip or uv with --find-links",
        f"lockbuild: note: {OLDBUILD_LINE}",
    ]
    # The pair is consistent, and -q silences the notices (the header keeps them).
    lockbuild(["check"], env, tmp_path / "all")
    write(tmp_path / "quiet" / "requirements.in", text)
    quiet_err, _, quiet_build = _compile(
        tmp_path / "quiet", env, server.url, "--build-deps-for", "all"
    )
    assert "not buildable" not in quiet_err
    assert pins(quiet_build) == pins(build)
    assert "lockbuild-not-buildable: oldbuild==1.0" in quiet_build.read_text()


def test_pylock_build_file_records_them(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "alpha\nbeta\noldbuild\n")
    _compile(tmp_path, env, server.url, "--build-deps-for", "all", "-o", "pylock.toml")
    pylock_build = (tmp_path / "pylock.build.toml").read_text()
    assert "not-buildable = [" in pylock_build
    assert 'scoped = ["alpha==1.0: buildtool==1.0, dynhelper==1.0"]' in pylock_build
    assert '"alpha 1.0" = ["buildtool==1.0", "dynhelper==1.0"]' in pylock_build
    text = (tmp_path / "pylock.build.txt").read_text()
    assert "# lockbuild-not-buildable: oldbuild==1.0:" in text
    assert "# lockbuild-scoped: alpha==1.0: buildtool==1.0, dynhelper==1.0" in text


def test_sdist_built_releases_that_disagree_get_scoped_environments_too(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "gamma\ndelta\n")
    _, lock, build = _compile(tmp_path, env, server.url, "--build-deps-for", "all")
    assert pins(lock) == {"delta": "1.0", "gamma": "1.0"}
    assert pins(build) == {"buildtool": "2.0"}
    assert "# lockbuild-scoped: gamma==1.0: buildtool==1.0" in build.read_text()
    assert "lockbuild-not-buildable" not in build.read_text()


def test_hook_held_by_runtime_pins_runs_once_before_fitting(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """A release whose build tools are all runtime pins: its get_requires_for_build_wheel
    starts as soon as its build-system table is read, and the fitting takes that answer
    (asked once), with the same lock as asking after the fitting."""
    write(tmp_path / "requirements.in", "early\ncorelib\n")
    args = compile_args(server.url, tmp_path / "cache", "--build-deps-for", "all", "-v")
    args.remove("-q")
    proc = lockbuild(args, env, tmp_path)
    asked = [
        line
        for line in proc.stderr.splitlines()
        if "asking the build backend of early-1.0.tar.gz" in line
    ]
    assert len(asked) == 1, proc.stderr
    assert asked[0].endswith("(its build tools are runtime pins: before the fitting)")
    assert pins(tmp_path / "requirements.txt") == {"corelib": "2.0", "early": "1.0"}
    assert pins(tmp_path / "requirements-build.txt") == {"corelib": "2.0", "dynhelper": "1.0"}
    assert "# via early (build)" in (tmp_path / "requirements-build.txt").read_text()
