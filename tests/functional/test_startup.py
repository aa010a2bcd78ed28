"""What a run imports: every run pays for its imports before any work, so each command
loads only the machinery it uses. A replayed compile returns before resolving (no
resolver, no build side, no metadata parser); check reads the pair offline (no HTTP
client); a text lock never loads the pylock format, nor a run without a configuration
file the TOML parser. Read from ``python -X importtime``, which names every module a run
imports, wherever it is imported from."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, pins, run, write

REUSED = "its result is reused"
RESOLVER = {
    "resolvelib",
    "pyproject_hooks",
    "lockbuild.resolve.provider",
    "lockbuild.resolve.source",
    "lockbuild.resolve.buildenvs",
    "lockbuild.resolve.hookrounds",
    "lockbuild.build.environments",
    "lockbuild.build.hooks",
    "lockbuild.dists.metadata",
    "packaging.metadata",
}
PYLOCK = {"lockbuild.lock.pylock", "tomllib", "tomlkit"}
# Read only for what a replayed run of JSON pages never meets: HTML pages, local sources,
# archives (sdists, wheels read by range requests), the resolve side of the outputs.
UNMET = {
    "html.parser",
    "lockbuild.dists.archive",
    "tarfile",
    "zipfile",
    "lockbuild.resolve.graph",
    "lockbuild.resolve.conflict",
    "lockbuild.build.hookfail",
}
HTTP = {"httpx", "httpcore", "h11", "urllib.request", "lockbuild.index.client"}
# What only a request through a proxy needs (lockbuild/index/viahttpx.py).
HTTPX = {"httpx", "httpcore", "h11", "anyio", "idna", "lockbuild.index.viahttpx"}
NO_PROXY_SET = {
    name: None
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (name, name.lower())
}


def _imported(args: list[str], env: dict[str, str], cwd: Path) -> tuple[set[str], str]:
    """The modules a run of ``lockbuild args`` imported, and what it said (stderr without
    the import lines, then stdout)."""
    proc = run([sys.executable, "-X", "importtime", "-m", "lockbuild", *args], env, cwd=cwd)
    found: set[str] = set()
    said: list[str] = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            found.add(line.rsplit("|", 1)[1].strip())
        else:
            said.append(line)
    return found, "\n".join([*said, proc.stdout])


def _alpha_needs_beta(tmp_path: Path) -> FixtureIndex:
    """An index of alpha 1.0, which requires beta 1.0, and an input asking for alpha."""
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.write()
    write(tmp_path / "requirements.in", "alpha\n")
    return idx


def test_replay_and_check_load_only_what_they_use(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _alpha_needs_beta(tmp_path)
    with IndexServer(idx.root) as server:
        args = [a for a in compile_args(server.url, tmp_path / "cache") if a != "-q"]
        # The first run resolves (the control: the resolver is seen when it is used); the
        # second starts from the first one's outputs, a new key; the third is replayed.
        first, said = _imported(args, env, tmp_path)
        assert REUSED not in said
        assert RESOLVER <= first
        assert "lockbuild.index.wire" in first
        assert not first & PYLOCK
        _imported(args, env, tmp_path)
        replayed, said = _imported(args, env, tmp_path)
        assert REUSED in said
        assert not replayed & RESOLVER
        assert not replayed & PYLOCK
        assert not replayed & UNMET
    checked, said = _imported(["check"], env, tmp_path)
    assert "are up to date" in said
    assert not checked & (RESOLVER | PYLOCK | HTTP)
    assert "lockbuild.lock.lockfile" in checked


def test_a_direct_compile_never_imports_httpx(tmp_path: Path) -> None:
    """With no proxy in the environment every request goes through wire.py's http.client
    connections: httpx (and httpcore, h11, ...) stays unimported, cold or warm. The
    proxied run's imports are read in tests/functional/test_proxy.py."""
    env = isolated_env(tmp_path / "home", **NO_PROXY_SET)
    idx = _alpha_needs_beta(tmp_path)
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache")
        cold, _ = _imported(args, env, tmp_path)
        asked = len(server.requests)
        write(tmp_path / "requirements.in", "alpha\nbeta\n")
        warm, _ = _imported(args, env, tmp_path)
        assert ("GET", "/simple/alpha/") in server.requests
        assert len(server.requests) > asked  # the warm run asked the index too
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}
    for found in (cold, warm):
        assert {"lockbuild.index.wire", "lockbuild.index.session", "http.client"} <= found
        assert not found & HTTPX


def test_a_pylock_compile_loads_the_pylock_format(tmp_path: Path, env: dict[str, str]) -> None:
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("alpha", "1.0")
    idx.write()
    write(tmp_path / "requirements.in", "alpha\n")
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache", "-o", "pylock.toml")
        found, _ = _imported(args, env, tmp_path)
    assert "lockbuild.lock.pylock" in found
    assert (tmp_path / "pylock.toml").is_file()
