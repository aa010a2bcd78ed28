"""The fetcher against an in-memory server (httpx.MockTransport through viahttpx): pages kept and
revalidated by Cache-Control, range reads, redirects and the errors users read."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lockbuild.errors import FetchError
from lockbuild.index.cache import Cache
from lockbuild.index.fetcher import Fetcher, _fresh_until
from lockbuild.index.viahttpx import HttpxTransport

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

URL = "https://index.example/simple/alpha/"
FILE = "https://files.example/alpha-1.0-py3-none-any.whl"
Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """Answers from a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def _fetcher(tmp_path: Path, server: Server, **kwargs: bool) -> Fetcher:
    return Fetcher(
        Cache(tmp_path / "cache"), transport=HttpxTransport(httpx.MockTransport(server)), **kwargs
    )


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setenv("LOCKBUILD_RETRIES", "3")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=60", 60),
        ("public, max-age=600", 600),
        ("max-age = 5", 5),
        ("max-age=0", 0),
        (None, None),
        ("", None),
        ("public", None),
        ("no-cache", None),
        ("max-age=60, no-cache", None),
        ("No-Store, max-age=60", None),
        ("max-age=abc", None),
    ],
)
def test_freshness_from_cache_control(header: str | None, seconds: int | None) -> None:
    found = _fresh_until(header)
    if seconds is None:
        assert found is None
    else:
        assert found is not None and abs(found - (time.time() + seconds)) < 5


def _page(headers: dict[str, str]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        etag = headers.get("etag")
        if etag is not None and request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, content=b"<html></html>", headers=headers)

    return handle


# (response headers, what a second read in the same cache asks the server)
REVALIDATION_CASES = [
    ({"cache-control": "max-age=600"}, []),  # fresh: no request
    ({"cache-control": "max-age=600", "etag": '"v1"'}, []),
    ({"cache-control": "no-cache", "etag": '"v1"'}, ['"v1"']),  # revalidated, 304
    ({"etag": '"v1"'}, ['"v1"']),  # no Cache-Control: revalidate always
    ({"cache-control": "max-age=0", "etag": '"v2"'}, ['"v2"']),
    ({}, [None]),  # nothing to revalidate with: fetched again
]


@pytest.mark.parametrize(("headers", "second"), REVALIDATION_CASES)
def test_pages_are_kept_and_revalidated(
    tmp_path: Path, headers: dict[str, str], second: list[str | None]
) -> None:
    server = Server(_page({"content-type": "text/html", **headers}))
    first = _fetcher(tmp_path, server).get_page(URL)
    assert first == (b"<html></html>", "text/html", URL)
    assert server.requests[0].headers["accept"].startswith("application/vnd.pypi.simple.v1+json")
    server.requests.clear()
    assert _fetcher(tmp_path, server).get_page(URL) == first
    assert [r.headers.get("if-none-match") for r in server.requests] == second


def test_refresh_revalidates_a_fresh_page(tmp_path: Path) -> None:
    server = Server(_page({"cache-control": "max-age=600", "etag": '"v1"'}))
    _fetcher(tmp_path, server).get_page(URL)
    _fetcher(tmp_path, server, refresh=True).get_page(URL)
    assert [r.headers.get("if-none-match") for r in server.requests] == [None, '"v1"']


def test_offline_reads_only_the_cache(tmp_path: Path) -> None:
    server = Server(_page({"etag": '"v1"'}))
    with pytest.raises(FetchError) as caught:
        _fetcher(tmp_path, server, offline=True).get_page(URL)
    assert caught.value.message == f"{URL}: not in the cache (--offline)"
    _fetcher(tmp_path, server).get_page(URL)
    assert _fetcher(tmp_path, server, offline=True).get_page(URL) is not None
    assert len(server.requests) == 1


def test_a_missing_page_is_remembered_for_offline_runs(tmp_path: Path) -> None:
    server = Server(lambda request: httpx.Response(404))
    assert _fetcher(tmp_path, server).get_page(URL) is None
    assert _fetcher(tmp_path, server, offline=True).get_page(URL) is None
    assert len(server.requests) == 1


def test_a_redirect_is_followed_and_the_final_url_reported(tmp_path: Path) -> None:
    moved = "https://mirror.example/simple/alpha/"

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == URL:
            return httpx.Response(301, headers={"location": moved})
        return httpx.Response(200, content=b"{}", headers={"content-type": "text/html"})

    server = Server(handle)
    assert _fetcher(tmp_path, server).get_page(URL) == (b"{}", "text/html", moved)
    assert [str(r.url) for r in server.requests] == [URL, moved]


# (the answer the server gives every time, the one-line error)
ERROR_CASES = [
    (httpx.Response(401), f"{FILE}: access denied (HTTP 401)"),
    (httpx.Response(403), f"{FILE}: access denied (HTTP 403)"),
    (httpx.Response(404), f"{FILE}: not found (404)"),
    (httpx.Response(418), f"{FILE}: HTTP 418"),
    (httpx.Response(500), f"{FILE}: server error (HTTP 500) (tried 3 times)"),
    (httpx.Response(429), f"{FILE}: server error (HTTP 429) (tried 3 times)"),
    (
        httpx.Response(200, headers={"content-length": "11"}, content=b"x" * 11),
        f"{FILE}: response larger than 10 bytes",
    ),
    (httpx.Response(200, content=b"x" * 11), f"{FILE}: response larger than 10 bytes"),
]


@pytest.mark.parametrize(("response", "message"), ERROR_CASES)
def test_errors_are_one_line(tmp_path: Path, response: httpx.Response, message: str) -> None:
    server = Server(lambda request: response)
    with pytest.raises(FetchError) as caught:
        _fetcher(tmp_path, server).get_bytes(FILE, limit=10)
    assert caught.value.message == message


def test_faults_are_retried_then_one_line(tmp_path: Path) -> None:
    answers = [httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)]

    def handle(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    server = Server(handle)
    assert _fetcher(tmp_path, server).get_bytes(FILE) == b""
    assert len(server.requests) == 3

    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc

    with pytest.raises(FetchError) as caught:
        _fetcher(tmp_path, Server(refuse)).get_bytes(FILE)
    assert caught.value.message == f"{FILE}: connection refused (tried 3 times)"


def _ranged(status: int, content_range: str | None, body: bytes) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        headers = {"content-range": content_range} if content_range else {}
        return httpx.Response(status, content=body, headers=headers)

    return handle


# (first, last asked; the server's status, Content-Range and body; the result or error)
RANGE_CASES = [
    (0, 3, 206, "bytes 0-3/10", b"abcd", (b"abcd", 10)),
    (None, 4, 206, "bytes 6-9/10", b"ghij", (b"ghij", 10)),  # the last 4 bytes
    (None, 40, 206, "bytes 0-9/10", b"abcdefghij", (b"abcdefghij", 10)),  # all of a short file
    (0, 3, 200, None, b"abcdefghij", (b"abcdefghij", None)),  # Range ignored: the whole file
    (0, 3, 206, None, b"abcd", "malformed Content-Range in a partial answer"),
    (0, 3, 206, "bytes 0-3", b"abcd", "malformed Content-Range in a partial answer"),
    (0, 3, 206, "bytes 1-4/10", b"bcde", "the partial answer is not the range asked for"),
    (0, 3, 206, "bytes 0-3/10", b"abc", "the partial answer is not the range asked for"),
    (0, 3, 206, "bytes 0-10/10", b"abcdefghijk", "the partial answer is not the range asked for"),
    (0, 3, 404, None, b"", "not found (404)"),
]


@pytest.mark.parametrize(
    ("first", "last", "status", "content_range", "body", "expected"), RANGE_CASES
)
def test_range_reads(
    tmp_path: Path,
    first: int | None,
    last: int,
    status: int,
    content_range: str | None,
    body: bytes,
    expected: tuple[bytes, int | None] | str,
) -> None:
    server = Server(_ranged(status, content_range, body))
    fetcher = _fetcher(tmp_path, server)
    if isinstance(expected, str):
        with pytest.raises(FetchError) as caught:
            fetcher.get_range(FILE, first, last)
        assert caught.value.message == f"{FILE}: {expected}"
    else:
        assert fetcher.get_range(FILE, first, last) == expected
    asked = server.requests[0].headers
    assert asked["range"] == (f"bytes=-{last}" if first is None else f"bytes={first}-{last}")
    assert asked["accept-encoding"] == "identity"


def test_a_preloaded_page_is_read_with_the_digest_it_was_fetched_with(tmp_path: Path) -> None:
    """A page a replay fetched is handed back with the sha256 noted when it came (its
    body is not hashed again), and is read once; without a digest it is hashed."""
    fetcher = Fetcher(Cache(tmp_path))
    page = (b'{"files": []}', "application/vnd.pypi.simple.v1+json", "https://i/simple/a/")
    noted = "ab" * 32
    fetcher.preload("https://i/simple/a/", page, noted)
    assert fetcher.get_page_and_digest("https://i/simple/a/") == (page, noted)
    assert fetcher.pages_read["https://i/simple/a/"] == noted
    fetcher.preload("https://i/simple/b/", page)
    digest = hashlib.sha256(page[0]).hexdigest()
    assert fetcher.get_page_and_digest("https://i/simple/b/") == (page, digest)
    fetcher.preload("https://i/simple/c/", None)
    assert fetcher.get_page_and_digest("https://i/simple/c/") == (None, None)
