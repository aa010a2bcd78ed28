"""Why not newer, through runtime edges: every runtime pin below the newest release its
inputs allow has its reason recorded in the lock's header and shown by ``why``; compile
prints the ones held back by more than a major release. Both lock formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbuild.lock.formats import read_lock as read_lockfile
from lockbuild.lock.model import HELD_BACK
from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import lockbuild, pins, write


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # A pin's requirement on another: app keeps lib below 2.
    idx.wheel("lib", "1.0")
    idx.wheel("lib", "2.0")
    idx.wheel("lib", "3.0")
    idx.wheel("lib", "4.0.dev1")  # a pre-release is not the newest allowed (pip's rule)
    idx.wheel("app", "1.0", requires_dist=["lib<2"])
    # The newest release's own requirement: web 2.x wants core<2, the input core>=2
    # (requests >= 2 with urllib3 < 2 against urllib3 >= 2).
    idx.wheel("core", "1.0")
    idx.wheel("core", "2.0")
    idx.wheel("web", "0.9", requires_dist=["core"])
    idx.wheel("web", "2.0", requires_dist=["core<2"])
    # Below its newest by the user's own pin: nothing to explain.
    idx.wheel("plain", "1.0")
    idx.wheel("plain", "1.1")
    idx.write()
    return idx


FORMATS = {"text": "requirements.txt", "pylock": "pylock.toml"}
EXPECTED = {
    "lib": "lib 1.0 (newest 3.0): app 1.0 requires lib<2",
    "web": "web 0.9 (newest 2.0): web 2.0 requires core<2; requirements.in line 2: core>=2",
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_runtime_edges_recorded_printed_and_shown(
    fmt: str, tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    url = server.url
    write(tmp_path / "requirements.in", "app\ncore>=2\nweb\nplain==1.0\n")
    out = FORMATS[fmt]
    args = ["compile", "--index-url", url, "--cache-dir", str(tmp_path / "cache"), "-o", out]
    proc = lockbuild(args, env, tmp_path)
    locked = read_lockfile(tmp_path / out)
    assert {n: p.version for n, p in locked.pins.items()} == {
        "app": "1.0",
        "lib": "1.0",
        "core": "2.0",
        "web": "0.9",
        "plain": "1.0",
    }
    assert sorted(locked.meta[HELD_BACK]) == [EXPECTED["lib"], EXPECTED["web"]]
    held = [x for x in proc.stderr.splitlines() if "(newest " in x]
    assert sorted(held) == [EXPECTED["lib"], EXPECTED["web"]]
    for name, line in EXPECTED.items():
        shown = lockbuild(["why", name, out], env, tmp_path).stdout.splitlines()
        assert line in shown
    # The body is what pip-compile writes: no note under the pins.
    if fmt == "text":
        body = (tmp_path / out).read_text().split("\n\n", 1)[1]
        assert "held back" not in body and "newest" not in body


def test_existing_pin_kept_is_said(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """A pin kept from the existing lock (not moved without -P) says so with -v, with the
    command that moves it; it is not recorded (an upstream release would change the lock
    while its pins stay)."""
    url = server.url
    write(tmp_path / "requirements.in", "plain\n")
    write(tmp_path / "requirements.txt", "plain==1.0\n")
    args = ["compile", "--index-url", url, "--cache-dir", str(tmp_path / "cache")]
    quiet = lockbuild(args, env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"plain": "1.0"}
    assert "(newest " not in quiet.stderr
    assert HELD_BACK not in read_lockfile(tmp_path / "requirements.txt").meta
    verbose = lockbuild([*args, "-v", "--no-replay"], env, tmp_path)
    line = (
        "plain 1.0 (newest 1.1): kept at the existing lock's pin "
        f"(to move it: lockbuild compile --index-url {url} -P plain)"
    )
    assert line in verbose.stderr.splitlines()
    lockbuild([*args, "-P", "plain"], env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"plain": "1.1"}
