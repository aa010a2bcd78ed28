"""The on-disk cache's layout and writes (lockbuild/index/cache.py, lockbuild/atomic.py):
one directory per bucket, entries written atomically, and a cache laid out as earlier
versions laid it out (a directory per first two hex digits) still read, every entry
checked against its hash wherever it is found."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lockbuild.atomic import write_atomic
from lockbuild.index.cache import Cache, CachedPage, sha256_hex

pytestmark = pytest.mark.unit

DATA = b"some bytes an index served"
DIGEST = sha256_hex(DATA)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_entries_are_one_directory_below_their_bucket(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("files", DIGEST, DATA)
    cache.put_keyed("page-listings", DIGEST, DATA)
    cache.put_json("records", DIGEST, {"a": 1})
    assert _files(tmp_path) == [f"files/{DIGEST}", f"page-listings/{DIGEST}", f"records/{DIGEST}"]
    assert cache.get_blob("files", DIGEST) == DATA
    assert cache.get_keyed("page-listings", DIGEST) == DATA
    assert cache.get_json("records", DIGEST) == {"a": 1}
    # Private, as tempfile.mkstemp made them: pages of a private index stay the user's.
    assert stat.S_IMODE((tmp_path / "files" / DIGEST).stat().st_mode) == 0o600


def _legacy(root: Path, bucket: str, key: str, data: bytes) -> Path:
    path = root / bucket / key[:2] / key
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def _json_entry(payload: object) -> bytes:
    body = json.dumps(payload, sort_keys=True)
    return json.dumps({"check": sha256_hex(body.encode()), "payload": payload}).encode()


@pytest.mark.parametrize(
    ("bucket", "stored", "read", "expected"),
    [
        ("files", DATA, "blob", DATA),
        ("page-listings", DIGEST.encode() + DATA, "keyed", DATA),
        ("records", _json_entry({"a": [1, 2]}), "json", {"a": [1, 2]}),
    ],
)
def test_an_entry_of_the_earlier_layout_is_read_and_moved(
    tmp_path: Path, bucket: str, stored: bytes, read: str, expected: object
) -> None:
    old = _legacy(tmp_path, bucket, DIGEST, stored)
    cache = Cache(tmp_path)
    get = {"blob": cache.get_blob, "keyed": cache.get_keyed, "json": cache.get_json}[read]
    assert get(bucket, DIGEST) == expected
    assert not old.exists()
    assert (tmp_path / bucket / DIGEST).read_bytes() == stored
    assert get(bucket, DIGEST) == expected  # from where it is now


@pytest.mark.parametrize(
    ("bucket", "stored", "read"),
    [
        ("files", b"other bytes under the same name", "blob"),
        ("page-listings", b"0" * 64 + DATA, "keyed"),
        ("records", b'{"check": "0", "payload": {"a": 1}}', "json"),
        ("records", b"not json", "json"),
    ],
)
def test_a_wrong_entry_of_the_earlier_layout_is_a_miss_and_removed(
    tmp_path: Path, bucket: str, stored: bytes, read: str
) -> None:
    _legacy(tmp_path, bucket, DIGEST, stored)
    cache = Cache(tmp_path)
    get = {"blob": cache.get_blob, "keyed": cache.get_keyed, "json": cache.get_json}[read]
    assert get(bucket, DIGEST) is None
    assert _files(tmp_path) == []


def test_a_page_kept_by_the_earlier_layout_is_revalidated_from_it(tmp_path: Path) -> None:
    url = "https://index.example/simple/alpha/"
    body = b'{"files": []}'
    record = {
        "url": url,
        "body": sha256_hex(body),
        "content_type": "application/vnd.pypi.simple.v1+json",
        "etag": '"v1"',
        "last_modified": None,
        "missing": False,
        "fresh_until": None,
    }
    _legacy(tmp_path, "page-bodies", sha256_hex(body), body)
    _legacy(tmp_path, "pages", sha256_hex(url.encode()), _json_entry(record))
    page = Cache(tmp_path).get_page(url)
    assert page is not None
    assert (page.body, page.etag, page.content_type) == (body, '"v1"', record["content_type"])


def test_an_entry_found_in_neither_place_is_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.get_blob("files", DIGEST) is None
    assert cache.get_keyed("page-listings", DIGEST) is None
    assert cache.get_json("records", DIGEST) is None
    assert cache.get_page("https://index.example/simple/alpha/") is None
    assert not tmp_path.joinpath("files").exists()


def test_a_page_written_now_is_read_back(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    url = "https://index.example/simple/alpha/"
    cache.put_page(CachedPage(url, DATA, "text/html", '"e"', None))
    page = cache.get_page(url)
    assert page is not None and (page.body, page.etag) == (DATA, '"e"')
    assert _files(tmp_path) == sorted(
        [f"page-bodies/{DIGEST}", f"pages/{sha256_hex(url.encode())}"]
    )


def test_write_atomic_makes_the_directory_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "entry"
    write_atomic(target, b"first")
    write_atomic(target, b"second" * 100_000)
    assert target.read_bytes() == b"second" * 100_000
    assert os.listdir(target.parent) == ["entry"]


def test_write_atomic_fails_cleanly_where_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "file" / "entry", b"data")
    Cache(tmp_path / "file").put_blob("files", DIGEST, DATA)  # a cache write never raises
    assert _files(tmp_path) == ["file"]
