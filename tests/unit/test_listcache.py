"""Listings of JSON pages kept by the page's bytes (lockbuild/index/listcache.py): what a
later run reads back is exactly what parsing the page gives (listings, files, wheels
dropped); a corrupted or malformed entry is a miss; a page served with other bytes,
another URL, project or wheel filter is parsed again. A compile that reads kept listings
is in tests/functional/test_listcache.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from lockbuild.errors import FetchError
from lockbuild.index.cache import Cache
from lockbuild.index.listcache import BUCKET, ListingCache
from lockbuild.index.page import JsonRecord, _CountingKeep, json_listings, json_records
from lockbuild.target import current
from tests.unit.test_pagejson import IRREGULAR, PAGE_URL, REGULAR, page, wheel

pytestmark = pytest.mark.unit


DIGEST = "cd" * 32


def seen(listings: Any, dropped: int | None) -> Any:
    return (
        [(i.filename, i.name, i.version, i.version_text, i.upload_time) for i in listings],
        [i.dist() for i in listings],
        dropped,
    )


def _stored(tmp_path: Path) -> tuple[ListingCache, str, Path]:
    store = ListingCache(Cache(tmp_path), "filter")
    key = store.key(DIGEST, "application/vnd.pypi.simple.v1+json", PAGE_URL, "demo")
    store.put(key, json_listings(page(wheel("1.0"), wheel("1.1")), PAGE_URL, None, "demo"), 0)
    [path] = (tmp_path / BUCKET).rglob(key)
    return store, key, path


def _one(version: str, fields: list[Any]) -> bytes:
    return msgspec.msgpack.encode([0, [["demo-1.0.tar.gz", "demo", version, None, fields]]])


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


@pytest.mark.parametrize("with_filter", [False, True])
@pytest.mark.parametrize("name", sorted(REGULAR) + sorted(IRREGULAR))
def test_records_made_while_parsing_are_those_of_the_listings(
    tmp_path: Path, name: str, with_filter: bool
) -> None:
    """What a cold run keeps (records made as the page is parsed, for pages msgspec
    decodes and for those the standard library reads) is json_records of the listings,
    and reads back as them."""
    body = REGULAR.get(name) or IRREGULAR[name]
    keep = _CountingKeep(current().wheel_name_filter()) if with_filter else None
    records: list[JsonRecord] = []
    try:
        parsed = json_listings(body, PAGE_URL, keep, "demo", records)
    except FetchError:
        assert records == []
        return
    assert records == json_records(parsed)
    store = ListingCache(Cache(tmp_path), "filter")
    key = store.key(DIGEST, "application/vnd.pypi.simple.v1+json", PAGE_URL, "demo")
    store.put_records(key, records, 3)
    found = store.get(key, PAGE_URL, "demo")
    # A field of a type no record holds (a URL that is a list) is a miss, as it is when
    # the listings are kept by put.
    via_listings = ListingCache(Cache(tmp_path / "put"), "filter")
    via_listings.put(key, parsed, 3)
    again = via_listings.get(key, PAGE_URL, "demo")
    assert (found is None) == (again is None) == (name == "url that is a list")
    if found is not None and again is not None:
        assert seen(*found) == seen(*again) == seen(parsed, 3)


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


def test_a_corrupted_entry_is_a_miss_and_removed(tmp_path: Path) -> None:
    store, key, path = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert store.get(key, PAGE_URL, "demo") is None
    assert not path.exists()


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


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        (b"https://files.example/demo-1.0-py3-none-any.whl", True),
        (b"https://files.example/a@b/demo-1.0.tar.gz", True),  # an "@" in the path
        (b"https://user:s3cret@files.example/demo-1.0.tar.gz", False),
        (b"https://token@files.example/demo-1.0.tar.gz", False),
        (b"\xff\xfe https://u:p@h/ \x80", False),  # bytes that are not UTF-8
    ],
)
def test_a_keyed_record_with_user_info_is_never_stored(
    tmp_path: Path, payload: bytes, kept: bool
) -> None:
    cache = Cache(tmp_path)
    cache.put_keyed(BUCKET, DIGEST, payload)
    assert (cache.get_keyed(BUCKET, DIGEST) == payload) is kept
    assert any((tmp_path / BUCKET).rglob(DIGEST)) is kept


@pytest.mark.parametrize(
    "payload",
    [
        {"metadata": 'Metadata-Version: 2.1\nName: démo\n\n\u2603 "quoted" \\ back'},
        {"b": [1, 2.5, None, True], "a": {"z": "", "y": ["\x00"]}},
        ["list", "payload"],
        "text",
        None,
    ],
)
def test_a_json_record_is_written_as_json_dumps_writes_it(tmp_path: Path, payload: Any) -> None:
    import hashlib
    import json

    cache = Cache(tmp_path)
    cache.put_json("records", DIGEST, payload)
    [path] = (tmp_path / "records").rglob(DIGEST)
    check = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    expected = json.dumps({"check": check, "payload": payload}, sort_keys=True)
    assert path.read_text() == expected
    assert cache.get_json("records", DIGEST) == payload
