"""Two clients over one cache and a JSON-only loopback index: the second reads the first
one's listings without parsing the page again (the store itself is in
tests/unit/test_listcache.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lockbuild.index.client
from lockbuild.index.cache import Cache
from lockbuild.index.client import IndexClient
from lockbuild.index.fetcher import Sources
from lockbuild.index.listcache import BUCKET
from lockbuild.target import current
from tests.fixtures import FixtureIndex, IndexServer


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
