"""The HTTP session under the fetcher (lockbuild/index/session.py), against in-memory
transports: what it sends (headers, credentials, no cookies), how it follows redirects,
and which proxy the environment names for a URL."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import pytest

from lockbuild.credentials import Credentials, without_userinfo
from lockbuild.errors import FetchError
from lockbuild.index.cache import Cache
from lockbuild.index.fetcher import Fetcher
from lockbuild.index.net import URL
from lockbuild.index.session import MAX_REDIRECTS, Session, environment_proxy
from lockbuild.index.viahttpx import HttpxTransport

pytestmark = pytest.mark.unit

PAGE = b'{"meta": {"api-version": "1.0"}, "name": "alpha", "files": []}'
JSON = {"content-type": "application/vnd.pypi.simple.v1+json"}


class Recorder:
    """A transport that answers from a table of URL -> response and keeps each request."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = request.url  # as sent: no user info
        sent = f"{url.scheme}://{url.netloc.decode()}{url.raw_path.decode()}"
        return self.answers.get(sent, httpx.Response(404))


def _fetcher(tmp_path: Path, recorder: Recorder) -> Fetcher:
    return Fetcher(
        Cache(tmp_path / "cache"), transport=HttpxTransport(httpx.MockTransport(recorder))
    )


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setenv("LOCKBUILD_RETRIES", "2")


def test_a_cookie_from_the_index_changes_nothing_sent_after(tmp_path: Path) -> None:
    first = "http://index.example/simple/alpha/"
    second = "http://index.example/simple/beta/"
    cookie = {"set-cookie": "session=abc123; Path=/", **JSON}
    recorder = Recorder(
        {first: httpx.Response(200, headers=cookie, content=PAGE), second: httpx.Response(404)}
    )
    fetcher = _fetcher(tmp_path, recorder)
    fetcher.get_page(first)
    fetcher.get_page(second)
    fetcher.close()
    assert [str(r.url) for r in recorder.requests] == [first, second]
    assert "cookie" not in recorder.requests[1].headers
    assert dict(recorder.requests[0].headers) == dict(recorder.requests[1].headers)


def test_what_every_request_carries(tmp_path: Path) -> None:
    url = "http://index.example/simple/alpha/"
    ranged = {"content-range": "bytes 0-99/100"}
    recorder = Recorder(
        {
            url: httpx.Response(200, headers=JSON, content=PAGE),
            "http://index.example/f.whl": httpx.Response(206, headers=ranged, content=b"x" * 100),
        }
    )
    fetcher = _fetcher(tmp_path, recorder)
    fetcher.get_page(url)
    fetcher.get_range("http://index.example/f.whl", None, 100)
    fetcher.close()
    page, ranged = recorder.requests
    assert page.headers["user-agent"] == "lockbuild"
    assert page.headers["accept"].startswith("application/vnd.pypi.simple.v1+json")
    assert page.headers["accept-encoding"] == "gzip, deflate"
    assert page.headers["host"] == "index.example"
    assert ranged.headers["accept-encoding"] == "identity"
    assert ranged.headers["range"] == "bytes=-100"
    # The timeout reaches the transport on every request.
    assert page.extensions["timeout"] == httpx.Timeout(fetcher.timeout).as_dict()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("start", "location", "credentials_follow"),
    [
        ("http://index.example/simple/alpha/", "/other/alpha/", True),
        ("http://index.example/simple/alpha/", "http://index.example:80/x/", True),
        ("http://index.example/simple/alpha/", "https://index.example/simple/alpha/", True),
        ("http://index.example:8080/simple/alpha/", "https://index.example/x/", False),
        ("https://index.example/simple/alpha/", "http://index.example/x/", False),
        ("http://index.example/simple/alpha/", "http://files.example/x/", False),
        ("http://index.example/simple/alpha/", "http://index.example:81/x/", False),
        ("http://index.example/simple/alpha/", "http:///relative-host/", True),
    ],
)
def test_credentials_never_follow_a_redirect_to_another_origin(
    tmp_path: Path, start: str, location: str, credentials_follow: bool
) -> None:
    with_user = start.replace("://", "://user:s3cret@", 1)
    final = str(httpx.URL(start).join(location))
    if location == "http:///relative-host/":  # no host: the request's, as httpx takes it
        final = "http://index.example/relative-host/"
    recorder = Recorder(
        {
            start: httpx.Response(302, headers={"location": location}),
            final: httpx.Response(200, headers=JSON, content=PAGE),
        }
    )
    fetcher = _fetcher(tmp_path, recorder)
    page = fetcher.get_page(with_user)
    fetcher.close()
    assert page is not None
    # A relative Location keeps the user info of the URL it is relative to (as httpx's
    # URL.join does); it is never sent as such, only as the Authorization header.
    assert without_userinfo(page[2]) == final
    first, second = recorder.requests
    assert first.headers["authorization"] == _basic("user", "s3cret")
    assert without_userinfo(str(second.url)) == final
    assert second.headers["host"] == httpx.URL(final).netloc.decode()
    if credentials_follow:
        assert second.headers["authorization"] == _basic("user", "s3cret")
    else:
        assert "authorization" not in second.headers


def test_a_redirect_loop_ends_in_one_line(tmp_path: Path) -> None:
    url = "http://index.example/simple/alpha/"
    recorder = Recorder({url: httpx.Response(301, headers={"location": url})})
    fetcher = _fetcher(tmp_path, recorder)
    with pytest.raises(FetchError) as caught:
        fetcher.get_page(url)
    fetcher.close()
    assert str(caught.value) == (
        f"{url}: TooManyRedirects: Exceeded maximum allowed redirects. (tried 2 times)"
    )
    assert len(recorder.requests) == 2 * (MAX_REDIRECTS + 1)


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("http://index.example/simple/", {}, None),
        ("http://index.example/simple/", {"http": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://index.example/simple/", {"http": "http://proxy:3128"}, None),
        ("https://index.example/simple/", {"https": "http://tls:3128"}, "http://tls:3128"),
        ("https://index.example/simple/", {"all": "socks5://any:1080"}, "socks5://any:1080"),
        (
            "https://index.example/simple/",
            {"https": "http://tls:3128", "all": "socks5://any:1080"},
            "http://tls:3128",
        ),
        ("http://index.example/", {"http": "http://p:1", "no": "index.example"}, None),
        ("http://index.example/", {"http": "http://p:1", "no": ".example"}, None),
        ("http://index.example/", {"http": "http://p:1", "no": "other.example"}, "http://p:1"),
        ("http://index.example:8080/", {"http": "http://p:1", "no": "index.example:8080"}, None),
        ("http://index.example/", {"http": "http://p:1", "no": "*"}, None),
        ("http://127.0.0.1:9/", {"http": "http://p:1", "no": "127.0.0.1,localhost"}, None),
    ],
)
def test_the_proxy_for_a_url(url: str, proxies: dict[str, str], expected: str | None) -> None:
    assert environment_proxy(URL(url), proxies) == expected


def test_a_proxy_from_the_environment_carries_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    direct = Recorder({})
    proxied = Recorder({"http://index.example/": httpx.Response(200, content=b"via proxy")})
    made: list[str] = []

    def proxy_transport(proxy: str) -> HttpxTransport:
        made.append(proxy)
        return HttpxTransport(httpx.MockTransport(proxied))

    session = Session(
        HttpxTransport(httpx.MockTransport(direct)),
        auth=Credentials(),
        timeout=5,
        proxied=proxy_transport,
    )
    for url in ("http://index.example/", "https://index.example/"):
        with session.stream(url, {}) as response:
            response.read()
    session.close()
    assert made == ["http://proxy.example:3128"]
    assert [str(r.url) for r in proxied.requests] == ["http://index.example/"]
    assert [str(r.url) for r in direct.requests] == ["https://index.example/"]
