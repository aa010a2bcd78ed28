"""GET requests straight to a transport (wire.py's; a proxy's through viahttpx.py),
without ``httpx.Client``.

A cold lock sends a couple of hundred requests; through ``httpx.Client`` each cost about
0.25 ms of CPU more than through the transport underneath (measured on the loopback copy
of the index): the URL parsed twice while merging it with a base URL lockbuild never
sets, every response's headers run through ``http.cookiejar`` for a cookie jar lockbuild
never reads, the auth and redirect generators, the event hooks and the elapsed-time
wrapper. What lockbuild needs of that layer is here, as the client did it:

- credentials (``Credentials``) on the first request only; a redirect to another origin
  drops the Authorization header, except an upgrade from ``http:80`` to ``https:443`` of
  the same host; at most 20 redirects, a relative or host-less ``Location`` resolved
  against the request's URL;
- the timeout on every request, and the default headers (User-Agent, Accept,
  Accept-Encoding for the decoders every httpx install has, keep-alive);
- proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) chosen per
  URL as pip does (through requests, which asks the standard library), each through
  httpx's own proxy transport (httpx is imported only then);
- responses decoded (gzip, deflate) as httpx decodes them (net.Response).

No cookie jar: a ``Set-Cookie`` from an index changes nothing sent afterwards (uv keeps
none either; pip's session would).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lockbuild.credentials import Credentials
from lockbuild.index.net import (
    URL,
    Headers,
    InvalidURL,
    RemoteProtocolError,
    Request,
    Response,
    TooManyRedirects,
    Transport,
    timeouts,
)

MAX_REDIRECTS = 20
REDIRECT_BODY_BYTES = 1024 * 1024
REDIRECTS = frozenset((301, 302, 303, 307, 308))
DEFAULT_HEADERS = {
    "Accept": "*/*",
    # What net.Response decodes.
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": "lockbuild",
}


def environment_proxy(url: URL, proxies: dict[str, str]) -> str | None:
    """The proxy for ``url`` (None: connect directly) among ``proxies`` (the environment's,
    as ``urllib.request.getproxies_environment`` reads them), chosen as requests chooses
    it for pip: NO_PROXY first, then the scheme's proxy, then ALL_PROXY."""
    if not proxies:
        return None
    host = url.host
    if not host:
        return None
    netloc = f"{host}:{url.port}" if url.port is not None else host
    if urllib.request.proxy_bypass_environment(netloc, proxies):  # type: ignore[attr-defined]
        return None
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(url.scheme) or proxies.get("all")


class Session:
    """GETs through ``direct`` (or a proxy's transport made by ``proxied``), following
    redirects, with credentials from ``auth`` and a ``timeout`` in seconds."""

    def __init__(
        self,
        direct: Transport,
        *,
        auth: Credentials,
        timeout: float,
        proxied: Callable[[str], Transport] | None = None,
    ) -> None:
        self._direct = direct
        self._proxied = proxied
        self._auth = auth
        self._timeout = timeouts(timeout)
        self._lock = threading.Lock()
        self._proxies: dict[str, Transport] = {}
        # Read once, as httpx.Client reads them: scanning the environment per request
        # costs more than the rest of choosing a transport.
        self._environment = urllib.request.getproxies_environment() if proxied else {}

    def _transport(self, url: URL) -> Transport:
        if self._proxied is None or not self._environment:
            return self._direct
        proxy = environment_proxy(url, self._environment)
        if proxy is None:
            return self._direct
        with self._lock:
            made = self._proxies.get(proxy)
            if made is None:
                made = self._proxies[proxy] = self._proxied(proxy)
            return made

    def _send(self, request: Request) -> Response:
        response = self._transport(request.url).handle_request(request)
        response.request = request
        return response

    @contextmanager
    def stream(self, url: str, headers: dict[str, str]) -> Iterator[Response]:
        """The response to GET ``url`` (redirects followed), its body not yet read."""
        request = Request(
            "GET",
            url,
            headers={**DEFAULT_HEADERS, **headers},
            extensions={"timeout": self._timeout},
        )
        request = self._auth(request)
        response = self._send(request)
        try:
            redirects = 0
            while response.status_code in REDIRECTS and "location" in response.headers:
                if redirects >= MAX_REDIRECTS:
                    raise TooManyRedirects("Exceeded maximum allowed redirects.")
                redirects += 1
                request = _redirected(request, response)
                _drain(response)
                response = self._send(request)
            yield response
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            made = list(self._proxies.values())
            self._proxies.clear()
        self._direct.close()
        for transport in made:
            transport.close()


def _drain(response: Response) -> None:
    """Read a redirect's body, so that its connection can serve the next request, up to
    a bound (past it the connection is closed instead)."""
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > REDIRECT_BODY_BYTES:
            break
    response.close()


def _default_port(url: URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def _redirected(request: Request, response: Response) -> Request:
    """The GET a redirect asks for: the URL of its Location, the same headers but for
    credentials, which never go to another origin (an upgrade to HTTPS of the same host
    on the default ports excepted, as httpx allows)."""
    try:
        url = URL(response.headers["location"])
    except InvalidURL as exc:
        raise RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if url.scheme and not url.raw_host:
        url = url.replaced(host=request.url.raw_host)
    if url.is_relative_url:
        url = request.url.join(str(url))
    if request.url.fragment and not url.fragment:
        url = url.replaced(fragment=request.url.fragment)
    headers = Headers(request.headers)
    before = request.url
    same_origin = (
        url.scheme == before.scheme
        and url.host == before.host
        and _default_port(url) == _default_port(before)
    )
    if not same_origin:
        upgrade = (
            url.host == before.host
            and before.scheme == "http"
            and _default_port(before) == 80
            and url.scheme == "https"
            and _default_port(url) == 443
        )
        if not upgrade:
            headers.pop("Authorization", None)
        headers["Host"] = url.netloc
    extensions: dict[str, Any] = dict(request.extensions)
    return Request("GET", url, headers=headers, extensions=extensions)
