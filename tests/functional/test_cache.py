"""The on-disk cache: immutable artifacts are fetched once, pages are revalidated, a
corrupted entry is refetched; concurrency does not change results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lockbuild.index import pipconfig
from lockbuild.index.cache import Cache
from lockbuild.index.pipconfig import pip_config_options, read_config
from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, pins, write

INPUT = "alpha\nabiext\nabicore==1.0\ndyn\n"


def _index(root: Path) -> FixtureIndex:
    idx = FixtureIndex(root)
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.wheel("abicore", "1.0")
    idx.wheel("abicore", "2.0")
    idx.sdist("abiext", "1.0", build_requires=["abicore"], requires_dist=["abicore"])
    idx.sdist("dyn", "1.0", requires_dist=["beta"], dynamic=["Requires-Dist"])
    idx.write()
    return idx


def _artifacts(server: IndexServer) -> list[str]:
    return [path for method, path in server.requests if path.startswith("/files/")]


def test_second_compile_fetches_no_immutable_artifact(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", INPUT)
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache")
        lockbuild(args, env, tmp_path)
        first = pins(tmp_path / "requirements.txt")
        assert _artifacts(server), "the first compile must download something"
        server.clear()
        lockbuild([*args, "--upgrade"], env, tmp_path)
        assert _artifacts(server) == []
        # Pages were asked again, conditionally, and answered 304.
        assert any(path.startswith("/simple/") for _, path in server.requests)
        assert pins(tmp_path / "requirements.txt") == first


def test_changed_page_is_seen_after_revalidation(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "beta\n")
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache")
        lockbuild(args, env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"beta": "1.0"}
        idx.wheel("beta", "1.1")
        idx.write()
        lockbuild([*args, "--upgrade"], env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"beta": "1.1"}


def test_corrupted_cache_entry_is_fetched_again(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, cache)
        lockbuild(args, env, tmp_path)
        entries = [p for p in (cache / "metadata").rglob("*") if p.is_file()]
        assert entries
        for entry in entries:
            entry.write_bytes(b"Metadata-Version: 2.1\nName: evil\nVersion: 6.6.6\n")
        server.clear()
        lockbuild([*args, "--upgrade"], env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}
        refetched = [p for p in _artifacts(server) if p.endswith(".metadata")]
        assert len(refetched) == len(entries)


def test_one_worker_and_many_give_the_same_lock(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    results = []
    with IndexServer(idx.root) as server:
        for workers in ("1", "16"):
            work = tmp_path / f"w{workers}"
            write(work / "requirements.in", INPUT)
            lockbuild(compile_args(server.url, work / "cache", "--workers", workers), env, work)
            results.append(
                (
                    (work / "requirements.txt").read_text(),
                    (work / "requirements-build.txt").read_text(),
                )
            )
    assert results[0] == results[1]


def test_fresh_pages_are_not_asked_again_unless_refresh(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Within the index's Cache-Control max-age a page is used as is (as pip and uv do);
    --refresh revalidates it anyway and sees the change."""
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "beta\n")
    with IndexServer(idx.root, cache_control="max-age=600") as server:
        args = compile_args(server.url, tmp_path / "cache")
        lockbuild(args, env, tmp_path)
        idx.wheel("beta", "1.1")
        idx.write()
        server.clear()
        lockbuild([*args, "--upgrade"], env, tmp_path)
        assert server.requests == []
        assert pins(tmp_path / "requirements.txt") == {"beta": "1.0"}
        lockbuild([*args, "--upgrade", "--refresh"], env, tmp_path)
        assert ("GET", "/simple/beta/") in server.requests
        assert pins(tmp_path / "requirements.txt") == {"beta": "1.1"}


def test_pip_configuration_is_read_once_while_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip's configuration files are read again only when one of them (or a PIP_*
    variable) changed."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    calls: list[int] = []
    real = read_config

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(pipconfig, "read_config", counting)
    cache = Cache(tmp_path / "c")
    first = pip_config_options(cache)
    assert pip_config_options(cache) == first
    assert len(calls) == 1
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    assert pip_config_options(cache).index_url == "http://127.0.0.1:9/simple/"
    assert len(calls) == 2
