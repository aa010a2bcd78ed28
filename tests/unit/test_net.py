"""The direct path's HTTP types (lockbuild/index/net.py) against httpx as the oracle: URLs
normalized and refused as httpx's, bodies decoded as httpx decodes them, headers looked up
as httpx's, and httpx's errors translated into net's of the same name with their cause
kept (lockbuild/index/viahttpx.py)."""

from __future__ import annotations

import gzip
import zlib
from urllib.parse import unquote

import httpx
import pytest

from lockbuild.index import net
from lockbuild.index.viahttpx import HttpxTransport, translated

pytestmark = pytest.mark.unit

URLS = [
    "http://index.example/simple/alpha/",
    "HTTP://Index.Example:80/simple/",
    "https://index.example:443/x",
    "https://index.example:8443/x?a=1&b=2#frag",
    "http://user:p%40ss@index.example/simple/",
    "http://user:p ss@index.example/",
    "http://index.example",
    "http://index.example/a/./b/../c/",
    "http://index.example/../x",
    "http://index.example/with space/é/%41%zz?q=a b#f g",
    "http://index.example/a{b}`c`/?x=<y>",
    "http://127.0.0.1:18765/simple/",
    "http://[::1]:8080/simple/",
    "http://bücher.example/simple/",
    "http://xn--bcher-kva.example/simple/",
    "https://files.example/packages/ab/cd/alpha-1.0.tar.gz#sha256=00ff",
    "/relative/path",
    "relative",
    "",
    "ftp://files.example/x",
]


@pytest.mark.parametrize("url", URLS)
def test_urls_are_normalized_as_httpx_normalizes_them(url: str) -> None:
    ours, theirs = net.URL(url), httpx.URL(url)
    assert str(ours) == str(theirs)
    assert (ours.scheme, ours.host, ours.port) == (theirs.scheme, theirs.host, theirs.port)
    assert (ours.username, ours.password) == (theirs.username, theirs.password)
    assert ours.is_relative_url == theirs.is_relative_url
    assert unquote(ours.fragment or "") == theirs.fragment
    if not ours.is_relative_url:
        assert ours.netloc == theirs.netloc.decode()
        assert ours.target == theirs.raw_path.decode()


@pytest.mark.parametrize(
    ("base", "other"),
    [
        ("http://index.example/simple/alpha/", "../beta/"),
        ("http://u:p@index.example/simple/alpha/", "/other/"),
        ("http://index.example/simple/alpha/", "https://files.example/f.whl"),
        ("http://index.example/simple/alpha/?x=1", "?y=2"),
    ],
)
def test_join_as_httpx_joins(base: str, other: str) -> None:
    assert str(net.URL(base).join(other)) == str(httpx.URL(base).join(other))


@pytest.mark.parametrize(
    "url",
    [
        "http://index.example/\nx",
        "http://index.example:port/",
        "http://999.1.1.1/",
        "http://[::zz]/",
        "http://index.example" + "/a" * 40000,
    ],
)
def test_refused_urls_say_what_httpx_says(url: str) -> None:
    with pytest.raises(httpx.InvalidURL) as theirs:
        httpx.URL(url)
    with pytest.raises(net.InvalidURL) as ours:
        net.URL(url)
    assert str(ours.value) == str(theirs.value)


def test_headers_are_looked_up_as_httpx_looks_them_up() -> None:
    raw = [("Content-Type", "text/html"), ("Vary", "a"), ("vary", "b"), ("ETag", '"x"')]
    ours, theirs = net.Headers(raw), httpx.Headers(raw)
    for name in ("content-type", "VARY", "etag", "missing"):
        assert ours.get(name) == theirs.get(name)
        assert (name in ours) == (name in theirs)
    ours["vary"] = "c"
    theirs["vary"] = "c"
    assert ours.get("Vary") == theirs.get("Vary") == "c"
    assert ours.pop("etag") == '"x"' and "etag" not in ours


def test_a_request_names_its_host_first() -> None:
    request = net.Request("GET", "http://index.example:8080/a", headers={"Accept": "*/*"})
    assert request.headers.raw == [("Host", "index.example:8080"), ("Accept", "*/*")]


BODY = b"<html>" + b"x" * 5000 + b"</html>"


def _deflate_raw(data: bytes) -> bytes:
    made = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return made.compress(data) + made.flush()


@pytest.mark.parametrize(
    ("encoding", "sent"),
    # mtime=0: a gzip header holds the time it was made, and the bodies are made while the
    # tests are collected, once in each xdist worker (which must collect the same ids).
    [
        ("gzip", gzip.compress(BODY, mtime=0)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", _deflate_raw(BODY)),
        ("gzip, deflate", zlib.compress(gzip.compress(BODY, mtime=0))),
        ("identity", BODY),
        ("br", BODY),  # no brotli package: passed through, as httpx passes it
        ("", BODY),
    ],
    ids=["gzip", "zlib", "raw-deflate", "gzip-then-deflate", "identity", "br", "none"],
)
def test_bodies_are_decoded_as_httpx_decodes_them(encoding: str, sent: bytes) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    chunks = [sent[i : i + 700] for i in range(0, len(sent), 700)]

    class Stream(net.Content):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield from chunks

    ours = net.Response(200, headers=headers, stream=Stream())
    theirs = httpx.Response(200, headers=headers, content=sent)
    assert ours.read() == theirs.content == BODY


def test_a_body_that_does_not_decode_is_a_decoding_error() -> None:
    response = net.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")
    with pytest.raises(net.DecodingError) as caught:
        response.read()
    with pytest.raises(httpx.DecodingError) as theirs:
        httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")
    assert str(caught.value) == str(theirs.value)
    assert isinstance(caught.value.__cause__, zlib.error)


@pytest.mark.parametrize(
    "kind",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.ProxyError,
        httpx.UnsupportedProtocol,
        httpx.PoolTimeout,
        httpx.WriteError,
        httpx.LocalProtocolError,
    ],
)
def test_httpx_errors_become_net_errors_of_the_same_name(kind: type[Exception]) -> None:
    made = translated(kind("what happened"))
    assert type(made).__name__ == kind.__name__
    assert isinstance(made, net.HTTPError) and str(made) == "what happened"
    # The same classification as httpx's: a timeout is a timeout, a transport error one.
    for theirs, ours in (
        (httpx.TimeoutException, net.TimeoutException),
        (httpx.TransportError, net.TransportError),
        (httpx.NetworkError, net.NetworkError),
    ):
        assert issubclass(kind, theirs) == isinstance(made, ours)


def test_an_httpx_transport_s_failure_keeps_its_cause() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc

    transport = HttpxTransport(httpx.MockTransport(refuse))
    with pytest.raises(net.ConnectError) as caught:
        transport.handle_request(net.Request("GET", "http://index.example/"))
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert isinstance(caught.value.__cause__.__cause__, ConnectionRefusedError)
