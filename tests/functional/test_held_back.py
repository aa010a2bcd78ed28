"""Held back, explained: compile prints each runtime pin a build edge kept below its
newest usable release, the lockfile records it, ``why`` shows it; -q silences it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbuild.lock.formats import read_lock
from lockbuild.resolve.heldback import HeldBack, from_lockfile, from_note
from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import lockbuild, pins, write


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # The ABI shape: a core library, and an extension whose newer release build-requires
    # a newer core.
    idx.wheel("corelib", "1.0")
    idx.wheel("corelib", "2.0")
    idx.sdist("extmod", "1.0", build_requires=["corelib"], requires_dist=["corelib"])
    idx.sdist("extmod", "2.0", build_requires=["corelib>=2"], requires_dist=["corelib"])
    # A build edge on a runtime pin: oldbuild's build wants corelib<2.
    idx.sdist("oldbuild", "1.0", build_requires=["corelib<2"])
    # Held below its newest by the user, not by a build edge: nothing to explain.
    idx.wheel("plain", "1.0")
    idx.wheel("plain", "2.0")
    # A chain: chained's build requires a tool that pins corelib (oldest-supported-numpy).
    idx.wheel("pinner", "1.0", requires_dist=["corelib==1.0"])
    idx.sdist("chained", "1.0", build_requires=["pinner"], requires_dist=["corelib"])
    idx.write()
    return idx


def _compile(tmp_path: Path, env: dict[str, str], url: str, *extra: str) -> tuple[str, str]:
    args = ["compile", "--index-url", url, "--cache-dir", str(tmp_path / "cache"), *extra]
    proc = lockbuild(args, env, tmp_path)
    return proc.stdout, proc.stderr


def test_build_requirement_of_the_newest_release(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "corelib<2\nextmod\nplain<2\n")
    _, stderr = _compile(tmp_path, env, server.url)
    line = (
        "extmod 1.0 (newest 2.0): extmod 2.0 (build) requires corelib>=2; "
        "requirements.in line 1: corelib<2"
    )
    assert pins(tmp_path / "requirements.txt") == {
        "corelib": "1.0",
        "extmod": "1.0",
        "plain": "1.0",
    }
    held = [x for x in stderr.splitlines() if "(newest " in x]
    assert held == [line]  # plain is held by the input itself: not reported
    text = (tmp_path / "requirements.txt").read_text()
    assert (
        "extmod==1.0\n    # held back (newest 2.0): extmod 2.0 (build) requires corelib>=2; "
        "requirements.in line 1: corelib<2\n    # via -r requirements.in\n"
    ) in text
    # The annotation does not disturb the reader: via and pins read as before.
    locked = read_lock(tmp_path / "requirements.txt")
    assert locked.pins["extmod"].via == ("-r requirements.in",)
    why = lockbuild(["why", "extmod"], env, tmp_path).stdout.splitlines()
    assert why == ["requirements.in -> extmod", line]
    assert lockbuild(["why", "corelib"], env, tmp_path).stdout.count("(newest") == 0
    # Replayed (inputs and outputs unchanged): said again. -q: silent.
    _, again = _compile(tmp_path, env, server.url)
    assert line in again
    _, again = _compile(tmp_path, env, server.url)
    assert "its result is reused" in again and line in again
    _, quiet = _compile(tmp_path, env, server.url, "-q")
    assert quiet == ""
    _, fresh = _compile(tmp_path, env, server.url, "--no-replay", "-q")
    assert fresh == ""


def test_build_edge_on_a_runtime_pin(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "corelib\noldbuild\n")
    _, stderr = _compile(tmp_path, env, server.url)
    assert pins(tmp_path / "requirements.txt") == {"corelib": "1.0", "oldbuild": "1.0"}
    line = "corelib 1.0 (newest 2.0): oldbuild 1.0 (build) requires corelib<2"
    assert [x for x in stderr.splitlines() if "(newest " in x] == [line]
    assert lockbuild(["why", "corelib"], env, tmp_path).stdout.splitlines()[-1] == line


def test_nothing_held_nothing_said(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "extmod\n")
    _, stderr = _compile(tmp_path, env, server.url)
    assert pins(tmp_path / "requirements.txt") == {"corelib": "2.0", "extmod": "2.0"}
    assert "(newest " not in stderr
    assert "held back" not in (tmp_path / "requirements.txt").read_text()


def test_kept_by_existing_pins_only_is_not_held_back(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """Existing pins are preferences: a release kept by them alone is not reported as
    held back by a build edge (it is merely not upgraded; -U or -P moves it)."""
    write(tmp_path / "requirements.in", "corelib<2\nextmod\n")
    _compile(tmp_path, env, server.url, "-q")
    write(tmp_path / "requirements.in", "corelib\nextmod\n")
    _, stderr = _compile(tmp_path, env, server.url)
    assert pins(tmp_path / "requirements.txt") == {"corelib": "1.0", "extmod": "1.0"}
    assert "(newest " not in stderr
    assert "held back" not in (tmp_path / "requirements.txt").read_text()


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        (
            "held back (newest 0.3.5): pyworld 0.3.5 (build) requires numpy>=2; "
            "requirements.in line 1: numpy<2",
            HeldBack(
                "pyworld",
                "0.3.4",
                "0.3.5",
                ("pyworld 0.3.5 (build) requires numpy>=2", "requirements.in line 1: numpy<2"),
            ),
        ),
        ("held back (newest 2.0): x", HeldBack("pyworld", "0.3.4", "2.0", ("x",))),
        ("held back: something", None),
        ("via -r requirements.in", None),
        ("held back (newest ): x", None),
    ],
)
def test_note_round_trip(note: str, expected: HeldBack | None) -> None:
    parsed = from_note("pyworld", "0.3.4", note)
    assert parsed == expected
    if expected is not None:
        assert expected.note() == note
        assert from_lockfile(f"pyworld==0.3.4\n    # {note}\n    # via -r r.in\n") == [expected]


def test_a_hold_through_a_chain_of_build_environments(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """numpy held at 1.23.2 through ctc-segmentation -> oldest-supported-numpy, in small."""
    write(tmp_path / "requirements.in", "chained\n")
    _, stderr = _compile(tmp_path, env, server.url)
    assert pins(tmp_path / "requirements.txt") == {"chained": "1.0", "corelib": "1.0"}
    line = (
        "corelib 1.0 (newest 2.0): pinner 1.0 requires corelib==1.0 "
        "(in the build environment of chained 1.0)"
    )
    assert [x for x in stderr.splitlines() if "(newest " in x] == [line]
    text = (tmp_path / "requirements.txt").read_text()
    assert f"corelib==1.0\n    # held back {line.partition(' ')[2].partition(' ')[2]}" in text
    assert lockbuild(["why", "corelib"], env, tmp_path).stdout.splitlines()[-1] == line
