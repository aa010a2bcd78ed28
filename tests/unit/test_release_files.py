"""IndexClient.release_files, what checks a recorded result against the pages (replay.py):
the files of one release are exactly those the full parse of the pages gives for that
version (the usable ones, or every one for hashes), read from the pages served in memory,
for a table of pages, releases and cut-offs; and the listing cache is neither read nor
written by it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.version import Version

from lockbuild.index import page as page_module
from lockbuild.index.cache import Cache
from lockbuild.index.client import IndexClient
from lockbuild.index.fetcher import Fetcher, Sources
from lockbuild.index.page import _materialize, json_listings
from lockbuild.index.viahttpx import HttpxTransport
from lockbuild.target import current

pytestmark = pytest.mark.unit

INDEX = "https://host.test/simple/"
SHA = "ab" * 32


def entry(filename: str, uploaded: str = "2024-01-01T00:00:00Z", sha: str = SHA) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": f"../../files/{filename}",
        "hashes": {"sha256": sha},
        "upload-time": uploaded,
    }


FILES = [
    entry("demo-1.0.tar.gz"),
    entry("demo-1.0-py3-none-any.whl", sha="01" * 32),
    entry("demo-1.0-cp27-cp27m-win32.whl", sha="02" * 32),  # unusable here
    entry("demo-1.0.0-1-py3-none-any.whl", sha="03" * 32),  # 1.0.0 is 1.0, build tag
    entry("demo-1.0rc1-py3-none-any.whl"),
    entry("demo-2.0-py3-none-any.whl", "2024-06-01T00:00:00Z"),
    entry("Demo-2.0.zip", "2024-06-01T00:00:00Z"),
    entry("demo-3.0-cp27-cp27m-win32.whl"),  # no usable file of 3.0
    entry("demo-not.a.version-py3-none-any.whl"),
    entry("demo-4.0.tar.gz", "2024-09-01T00:00:00Z"),
    entry("other-1.0-py3-none-any.whl"),  # another project's
    entry("demo-05.0-py3-none-any.whl"),  # 5.0 written otherwise: found by the second pass
]


def client(tmp_path: Path, cut_off: datetime | None = None) -> IndexClient:
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": FILES}).encode()

    def serve(request: httpx.Request) -> httpx.Response:
        if str(request.url) == f"{INDEX}demo/":
            headers = {"Content-Type": "application/vnd.pypi.simple.v1+json"}
            return httpx.Response(200, content=body, headers=headers)
        return httpx.Response(404)

    made = IndexClient(
        Sources(index_urls=(INDEX,), find_links=()),
        Cache(tmp_path / "cache"),
        exclude_newer=cut_off,
        keep_wheel=current().wheel_name_filter(),
        all_files=True,
    )
    made.fetcher = Fetcher(made.cache, transport=HttpxTransport(httpx.MockTransport(serve)))
    return made


CUTS = [None, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)]


@pytest.mark.parametrize("cut_off", CUTS)
@pytest.mark.parametrize("version", ["1.0", "1.0rc1", "2.0", "3.0", "4.0", "5.0", "6.0"])
@pytest.mark.parametrize("usable", [True, False])
def test_the_release_is_what_the_full_parse_gives(
    tmp_path: Path, version: str, cut_off: datetime | None, usable: bool
) -> None:
    wanted = Version(version)
    full = client(tmp_path / "full", cut_off)
    if usable:
        expected = [f for f in _materialize(full.listings("demo")) if f.version == wanted]
    else:
        expected = list(full.version_files("demo", wanted))
    found = list(client(tmp_path / "release", cut_off).release_files("Demo", wanted, usable=usable))
    assert sorted(found, key=lambda f: f.filename) == sorted(expected, key=lambda f: f.filename)


def test_expected_files_are_found(tmp_path: Path) -> None:
    found = client(tmp_path).release_files("demo", Version("1.0"))
    names = {f.filename for f in found}
    assert names == {
        "demo-1.0.tar.gz",
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.0-1-py3-none-any.whl",
    }
    every = client(tmp_path).release_files("demo", Version("1.0"), usable=False)
    assert {f.filename for f in every} == names | {"demo-1.0-cp27-cp27m-win32.whl"}
    otherwise = client(tmp_path).release_files("demo", Version("5"))
    assert [f.filename for f in otherwise] == ["demo-05.0-py3-none-any.whl"]


def test_the_listing_cache_is_neither_read_nor_written(tmp_path: Path) -> None:
    first = client(tmp_path)
    assert list(first.release_files("demo", Version("1.0")))
    assert not (tmp_path / "cache" / "page-listings").exists()
    first.listings("demo")  # a run's own reading keeps the listings
    assert (tmp_path / "cache" / "page-listings").exists()
    # A rewritten cache: the kept listings of this very page name a release it lacks.
    forged = json.dumps({"meta": {"api-version": "1.1"}, "files": [entry("demo-9.0.tar.gz")]})
    listings = json_listings(forged.encode(), f"{INDEX}demo/", None, "demo")
    store = first._listed
    assert store is not None
    digest = first.fetcher.page_digest(f"{INDEX}demo/")
    assert digest is not None
    kind = "application/vnd.pypi.simple.v1+json"
    store.put(store.key(digest, kind, f"{INDEX}demo/", "demo"), listings, 0)
    resolving = client(tmp_path)
    assert [f.version for f in _materialize(resolving.listings("demo"))] == [Version("9.0")]
    assert list(client(tmp_path).release_files("demo", Version("9.0"))) == []


@pytest.mark.parametrize("cut_off", CUTS)
@pytest.mark.parametrize("version", ["1.0", "1.0rc1", "2.0", "3.0", "5.0", "6.0"])
@pytest.mark.parametrize("usable", [True, False])
def test_files_picked_while_the_page_is_fetched_are_the_same(
    tmp_path: Path, version: str, cut_off: datetime | None, usable: bool
) -> None:
    """A replay's check expects its releases before the pages come (expect_releases):
    each page's worker picks their files out, and release_files answers from what it
    picked exactly as it would from the page."""
    wanted = Version(version)
    plain = list(client(tmp_path / "plain", cut_off).release_files("demo", wanted, usable=usable))
    ahead = client(tmp_path / "ahead", cut_off)
    ahead.expect_releases([("Demo", wanted, usable)])
    fetched = ahead.fetch_pages([f"{INDEX}demo/"])
    for url, page in fetched.items():
        ahead.fetcher.preload(url, page)
    assert len(ahead._picked) == 1
    found = list(ahead.release_files("demo", wanted, usable=usable))
    assert sorted(found, key=lambda f: f.filename) == sorted(plain, key=lambda f: f.filename)


def test_files_picked_from_a_page_are_not_used_for_another_body(tmp_path: Path) -> None:
    """The page served to the check is another than the one picked from (it changed in
    between): what was picked is keyed by the body's sha256, so the check reads the page
    it was given."""
    bodies = [
        json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode()
        for files in (FILES, [entry("demo-1.0-py3-none-any.whl", sha="0f" * 32)])
    ]

    def serve(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/vnd.pypi.simple.v1+json"}
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return httpx.Response(200, content=body, headers=headers)

    made = client(tmp_path)
    made.fetcher = Fetcher(made.cache, transport=HttpxTransport(httpx.MockTransport(serve)))
    made.expect_releases([("demo", Version("1.0"), True)])
    made.fetch_pages([f"{INDEX}demo/"])
    assert len(made._picked) == 1
    found = list(made.release_files("demo", Version("1.0")))
    assert [f.sha256 for f in found] == ["0f" * 32]


def test_a_file_that_fails_to_parse_fails_the_check_not_the_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker that picks a release's files out of a page also parses them for the
    check; a file whose parse raises is left to the check, which meets the error where
    it always did (the page itself is fetched)."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unparsable")

    monkeypatch.setattr(page_module, "_json_entry", broken)
    ahead = client(tmp_path, None)
    ahead.expect_releases([("demo", Version("1.0"), True)])
    fetched = ahead.fetch_pages([f"{INDEX}demo/"])
    assert list(fetched) == [f"{INDEX}demo/"]
    for url, body in fetched.items():
        ahead.fetcher.preload(url, body)
    with pytest.raises(RuntimeError, match="unparsable"):
        list(ahead.release_files("demo", Version("1.0")))
