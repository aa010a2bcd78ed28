"""Listings of JSON pages kept by the page's bytes (lockbuild/index/listcache.py): what a later
run reads back is exactly what parsing the page gives (listings, files, wheels dropped);
a corrupted or malformed entry is a miss; a page served with other bytes, another URL,
project or wheel filter is parsed again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import lockbuild.index.client
from lockbuild.index.cache import Cache
from lockbuild.index.client import IndexClient
from lockbuild.index.fetcher import Sources
from lockbuild.index.listcache import BUCKET, ListingCache
from lockbuild.index.page import _CountingKeep, json_listings
from lockbuild.target import current
from tests.fixtures import FixtureIndex, IndexServer
from tests.unit.test_pagejson import PAGE_URL, REGULAR, page, wheel

DIGEST = "cd" * 32


def seen(listings: Any, dropped: int | None) -> Any:
    return (
        [(i.filename, i.name, i.version, i.version_text, i.upload_time) for i in listings],
        [i.dist() for i in listings],
        dropped,
    )


@pytest.mark.unit
@pytest.mark.parametrize("with_filter", [False, True])
@pytest.mark.parametrize("name", sorted(REGULAR))
def test_kept_listings_are_the_parsed_ones(tmp_path: Path, name: str, with_filter: bool) -> None:
    body = REGULAR[name]
    keep = _CountingKeep(current().wheel_name_filter()) if with_filter else None
    parsed = json_listings(body, PAGE_URL, keep, "demo")
    dropped = keep.dropped if keep is not None else 0
    store = ListingCache(Cache(tmp_path), "filter")
    key = store.key(DIGEST, "application/vnd.pypi.simple.v1+json", PAGE_URL, "demo")
    assert store.get(key, PAGE_URL, "demo") is None
    store.put(key, parsed, dropped)
    found = store.get(key, PAGE_URL, "demo")
    assert found is not None
    assert seen(*found) == seen(parsed, dropped)


@pytest.mark.unit
def test_every_part_of_the_key_counts(tmp_path: Path) -> None:
    kind = "application/vnd.pypi.simple.v1+json"
    one = ListingCache(Cache(tmp_path), "filter")
    keys = {
        one.key(DIGEST, kind, PAGE_URL, "demo"),
        one.key("ef" * 32, kind, PAGE_URL, "demo"),
        one.key(DIGEST, "application/vnd.pypi.simple.latest+json", PAGE_URL, "demo"),
        one.key(DIGEST, kind, PAGE_URL + "x/", "demo"),
        one.key(DIGEST, kind, PAGE_URL, "other"),
        ListingCache(Cache(tmp_path), "another filter").key(DIGEST, kind, PAGE_URL, "demo"),
    }
    assert len(keys) == 6


def _stored(tmp_path: Path) -> tuple[ListingCache, str, Path]:
    store = ListingCache(Cache(tmp_path), "filter")
    key = store.key(DIGEST, "application/vnd.pypi.simple.v1+json", PAGE_URL, "demo")
    store.put(key, json_listings(page(wheel("1.0"), wheel("1.1")), PAGE_URL, None, "demo"), 0)
    [path] = (tmp_path / BUCKET).rglob(key)
    return store, key, path


@pytest.mark.unit
def test_a_corrupted_entry_is_a_miss_and_removed(tmp_path: Path) -> None:
    store, key, path = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert store.get(key, PAGE_URL, "demo") is None
    assert not path.exists()


def _one(version: str, fields: list[Any]) -> bytes:
    return msgspec.msgpack.encode([0, [["demo-1.0.tar.gz", "demo", version, None, fields]]])


@pytest.mark.unit
@pytest.mark.parametrize(
    "payload",
    [
        b"not msgpack at all",
        _one("1.0", [1, 2]),
        _one("not a version!", [None] * 9),
        _one("1.0", [[1]] * 9),
        msgspec.msgpack.encode({"dropped": 0}),
    ],
    ids=["bytes", "short record", "bad version", "field of another type", "not a list"],
)
def test_an_entry_no_page_could_give_is_a_miss(tmp_path: Path, payload: bytes) -> None:
    """Entries with a valid checksum but a shape no page gives are not read."""
    store, key, _ = _stored(tmp_path)
    store.cache.put_keyed(BUCKET, key, payload)
    assert store.get(key, PAGE_URL, "demo") is None


def _listed(client: IndexClient, name: str) -> list[tuple[str, Any]]:
    return sorted(((i.filename, i.dist()) for i in client.listings(name)), key=lambda x: x[0])


def test_a_page_served_again_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clients over one cache and a JSON-only index: the second reads the first
    one's listings without parsing the page; once the page changes, it is parsed."""
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0")
    idx.wheel("alpha", "1.0", tag="cp27-cp27m-win32")
    idx.sdist("alpha", "1.1")
    idx.write()
    cache = Cache(tmp_path / "cache")
    keep = current().wheel_name_filter

    def client(url: str) -> IndexClient:
        return IndexClient(Sources((url,), ()), cache, keep_wheel=keep())

    with IndexServer(idx.root, html=False) as srv:
        first = client(srv.url)
        listed = _listed(first, "alpha")
        assert [f for f, _ in listed] == ["alpha-1.0-py3-none-any.whl", "alpha-1.1.tar.gz"]
        assert first.dropped_wheels("alpha") == 1
        first.close()
        assert list((tmp_path / "cache" / BUCKET).rglob("*"))

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the page was parsed again")

        with monkeypatch.context() as patched:
            patched.setattr(lockbuild.index.client, "_page_listings", refuse)
            second = client(srv.url)
            assert _listed(second, "alpha") == listed
            assert second.dropped_wheels("alpha") == 1
            second.close()

        idx.wheel("alpha", "1.2")
        idx.write()
        third = client(srv.url)
        assert "alpha-1.2-py3-none-any.whl" in [f for f, _ in _listed(third, "alpha")]
        third.close()
