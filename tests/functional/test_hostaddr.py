"""A compile against an index named by host name (not address) locks as before; the
lookups themselves are in tests/unit/test_hostaddr.py."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, pins, write


def test_an_index_named_by_host_name_locks_as_before(tmp_path: Path) -> None:
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.write()
    env = isolated_env(tmp_path / "home")
    write(tmp_path / "requirements.in", "alpha\n")
    with IndexServer(idx.root) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        lockbuild(compile_args(url, tmp_path / "cache"), env, tmp_path)
        assert ("GET", "/simple/beta/") in server.requests
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}
